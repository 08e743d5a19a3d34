"""A realistic phone's data, made up: people with Indian and UK numbers in the
formats phones store, some in the phone book, and a call log that repeats them
(withheld numbers, short codes, missed, incoming and outgoing calls, cached
names). Standard library only, like scripts/simulate_phone.py which sends it."""
from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

DAY_MS = 86_400_000

# --------------------------------------------------------------------------------------------
# A realistic phone: people with numbers, some in the phone book, a call log that repeats them.
# --------------------------------------------------------------------------------------------
FIRST = ["Asha", "Ravi", "Priya", "Arjun", "Meera", "Vikram", "Sunita", "Rahul", "Anjali", "Karan", "Deepa",
         "Suresh", "Kavya", "Nikhil", "Pooja", "Amit", "Oliver", "Amelia", "Harry", "Isla", "George", "Emily"]
LAST = ["Rao", "Sharma", "Iyer", "Patel", "Reddy", "Nair", "Gupta", "Singh", "Menon", "Das", "Khan", "Joshi",
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson"]
COMPANIES = [None, None, "Rao Traders", "Sharma Steel", "Iyer & Sons", "Patel Logistics", "Nair Textiles",
             "Acme Ltd", "Brown & Co", "Gupta Pharma"]
IN_MOBILE_PREFIXES = ["98", "99", "97", "96", "95", "94", "93", "91", "90", "89", "88", "87", "86", "85", "84",
                      "83", "82", "81", "80", "79", "78", "77", "76", "75", "74", "73", "72", "70", "63", "62"]
IN_LANDLINE_PREFIXES = ["2223", "2226", "1123", "8025", "4428", "3322"]   # Mumbai, Delhi, Bengaluru, ...
UK_MOBILE_PREFIXES = ["7400", "7500", "7800", "7900"]
UK_LANDLINE_PREFIXES = ["2079", "2071", "1614", "1212"]                    # London, Manchester, Birmingham
# (number, presentation) pairs that are calls but not customers.
SERVICE_CALLS = [("121", 1), ("198", 1), ("1800 180 1961", 1), ("56161", 1), ("112", 1), ("*99#", 1),
                 ("", 2), ("-1", 2), ("", 3), ("-2", 3), ("", 4)]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


@dataclass
class Person:
    """Someone the rep talks to: a national number and how the phone writes it."""

    name: str
    company: str | None
    country: str           # "IN" or "GB"
    national: str          # national significant number, digits only
    mobile: bool
    in_phone_book: bool
    formats: list = field(default_factory=list)

    @property
    def e164(self) -> str:
        return ("+91" if self.country == "IN" else "+44") + self.national


def _formats(p: Person) -> list[tuple[str, str]]:
    """(number as the call log stores it, the row's countryiso), as phones really write them."""
    n = p.national
    if p.country == "IN":
        if p.mobile:
            return [(f"+91 {n[:5]} {n[5:]}", "IN"), (f"+91{n}", "IN"), (f"0{n[:5]} {n[5:]}", "IN"), (n, "IN"),
                    (f"0091 {n[:5]} {n[5:]}", "IN"), (f"+91-{n[:5]}-{n[5:]}", "IN"), (f"+91{n}", "GB")]
        return [(f"0{n[:2]} {n[2:6]} {n[6:]}", "IN"), (f"+91 {n[:2]} {n[2:]}", "IN"), (f"0{n}", "IN")]
    if p.mobile:
        return [(f"+44 {n[:4]} {n[4:]}", "IN"), (f"+44{n}", "IN"), (f"0{n[:4]} {n[4:]}", "GB"),
                (f"0044 {n[:4]} {n[4:]}", "IN"), (f"00 44 {n}", "IN")]
    return [(f"+44 {n[:2]} {n[2:6]} {n[6:]}", "IN"), (f"0{n[:2]} {n[2:6]} {n[6:]}", "GB"), (f"+44{n}", "IN")]


def make_people(count: int, seed: int = 1, phone_book_share: float = 0.6) -> list[Person]:
    """`count` distinct people; mostly Indian mobiles, some landlines and UK numbers."""
    rng = random.Random(seed)
    people, seen = [], set()
    while len(people) < count:
        roll = rng.random()
        if roll < 0.75:
            country, mobile, national = "IN", True, rng.choice(IN_MOBILE_PREFIXES) + _digits(rng, 8)
        elif roll < 0.85:
            country, mobile, national = "IN", False, rng.choice(IN_LANDLINE_PREFIXES) + _digits(rng, 6)
        elif roll < 0.95:
            country, mobile, national = "GB", True, rng.choice(UK_MOBILE_PREFIXES) + _digits(rng, 6)
        else:
            country, mobile, national = "GB", False, rng.choice(UK_LANDLINE_PREFIXES) + _digits(rng, 6)
        if national in seen:
            continue
        seen.add(national)
        person = Person(f"{rng.choice(FIRST)} {rng.choice(LAST)}", rng.choice(COMPANIES), country, national,
                        mobile, rng.random() < phone_book_share)
        # A phone tends to write one person's number one way (the network's
        # format for incoming calls, the contact's for outgoing): the first
        # format is the usual one.
        person.formats = _formats(person)
        rng.shuffle(person.formats)
        people.append(person)
    return people


def make_call_log(count: int, people: list[Person], *, seed: int = 1, first_id: int = 1, end_ms: int | None = None,
                  days: int = 180, service_share: float = 0.04) -> list[dict]:
    """`count` CallLog.Calls rows, oldest first, as the app reads them from the cursor.

    Calls follow a long tail (a few people get most calls); each person's
    number is written in one of the ways a phone stores it. Rows are unique by
    (`_id`, `date`), like Android's own table.
    """
    rng = random.Random(seed)
    end_ms = end_ms if end_ms is not None else int(time.time() * 1000)
    start_ms = end_ms - days * DAY_MS
    step = max(1, (end_ms - start_ms) // max(count, 1))
    sims = ["8991" + _digits(rng, 15), "8944" + _digits(rng, 15)]
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(people))]
    chosen = rng.choices(people, weights=weights, k=count) if people else []
    rows = []
    for i in range(count):
        date = start_ms + i * step + rng.randrange(step)
        call_type = rng.choices((1, 2, 3, 5, 4, 6, 7), weights=(38, 36, 18, 4, 1, 1, 2))[0]
        connected = call_type in (1, 2, 7)
        duration = int(rng.expovariate(1 / 140)) + 1 if connected and rng.random() > 0.08 else 0
        if rng.random() < service_share or not chosen:
            number, presentation = rng.choice(SERVICE_CALLS)
            countryiso, name = "IN", None
        else:
            person = chosen[i]
            number, countryiso = person.formats[0] if rng.random() < 0.85 else rng.choice(person.formats)
            presentation = 1
            name = person.name if person.in_phone_book else None
        rows.append({
            "_id": first_id + i, "number": number, "date": date, "duration": duration, "type": call_type,
            "presentation": presentation, "countryiso": countryiso, "name": name,
            "via_number": "", "subscription_id": sims[0] if rng.random() < 0.85 else sims[1],
            "last_modified": date + duration * 1000 + rng.randrange(5000),
        })
    return rows


def make_phone_book(people: list[Person], *, seed: int = 1, updated_ms: int | None = None) -> list[dict]:
    """ContactsContract rows for the people saved on the phone."""
    rng = random.Random(seed)
    updated_ms = updated_ms if updated_ms is not None else int(time.time() * 1000)
    rows = []
    for index, person in enumerate(p for p in people if p.in_phone_book):
        typed, _ = rng.choice(person.formats[:3])
        first = person.name.split()[0].lower()
        rows.append({
            "contact_id": 100 + index, "lookup": f"0r{100 + index}-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
            "display_name": person.name, "last_updated": updated_ms - rng.randrange(365) * DAY_MS,
            "phones": [{"number": typed, "normalized_number": person.e164 if rng.random() < 0.8 else None,
                        "type": 2 if person.mobile else 3, "label": None}],
            "emails": [f"{first}.{index}@example.com"] if rng.random() < 0.3 else [],
            "organization": person.company,
        })
    return rows
