"""Generated numbers and the seeding of the Caller ID benchmark: realistic
Indian, UK and US numbers (`random_number`) and the ways a phone writes them
(`written_forms`); contacts and their phone-index rows written with COPY
(`grow`), checked against the service's own normalisation
(`check_suffix_keys`); the look-ups drawn from the index (`make_lookups`)."""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

from tests.topology import Topology

SUFFIX_DIGITS = 7            # mobile_sync.phones.SUFFIX_DIGITS (checked on a sample below)
SHARED_SHARE = 0.02          # rows on a switchboard number shared by several contacts
SWITCHBOARD_SIZE = 10        # contacts per switchboard number

FIRST = ["Asha", "Ravi", "Priya", "Arjun", "Meera", "Vikram", "Sunita", "Rahul", "Anjali", "Karan", "Deepa",
         "Suresh", "Kavya", "Nikhil", "Pooja", "Amit", "Oliver", "Amelia", "Harry", "Isla", "George", "Emily",
         "James", "Olivia", "Michael", "Sophia"]
LAST = ["Rao", "Sharma", "Iyer", "Patel", "Reddy", "Nair", "Gupta", "Singh", "Menon", "Das", "Khan", "Joshi",
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Garcia", "Miller"]
COMPANIES = [None, None, None, "Rao Traders", "Sharma Steel", "Iyer & Sons", "Patel Logistics", "Nair Textiles",
             "Acme Ltd", "Brown & Co", "Gupta Pharma", "Miller Freight"]
SOURCES = ["expo", "web", "referral", "cold_call", "tracking:google-ads", None]
NOTE_WORDS = ("called back about the quote wants delivery before month end asked for a discount on bulk "
              "order send brochure meeting next week follow up pricing approved by manager").split()
IN_MOBILE = ["98", "99", "97", "96", "95", "94", "93", "91", "90", "89", "88", "87", "86", "85", "84",
             "83", "82", "81", "80", "79", "78", "77", "76", "75", "74", "73", "72", "70", "63", "62"]
IN_AREAS = ["22", "11", "80", "44", "33", "40", "20"]          # Mumbai, Delhi, Bengaluru, Chennai, ...
US_AREAS = ["212", "646", "415", "312", "617", "202", "305", "512", "206", "718", "213", "404", "469", "702"]


# --------------------------------------------------------------------------------------------
# Realistic numbers: (E.164, national significant number)
# --------------------------------------------------------------------------------------------
def random_number(rng: random.Random, *, landline: bool = False) -> tuple[str, str]:
    roll = 0.72 + rng.random() * 0.08 if landline else rng.random()
    if roll < 0.65:                                   # Indian mobile: 10 digits
        nsn = f"{rng.choice(IN_MOBILE)}{rng.randrange(10**8):08d}"
        return "+91" + nsn, nsn
    if roll < 0.72:                                   # Indian landline: area code + 8 digits
        nsn = f"{rng.choice(IN_AREAS)}{rng.randrange(2, 8)}{rng.randrange(10**7):07d}"
        return "+91" + nsn, nsn
    if roll < 0.80:                                   # London landline
        nsn = f"20{rng.choice('378')}{rng.randrange(10**7):07d}"
        return "+44" + nsn, nsn
    if roll < 0.88:                                   # UK mobile
        nsn = f"7{rng.choice('4589')}{rng.randrange(10**8):08d}"
        return "+44" + nsn, nsn
    nsn = f"{rng.choice(US_AREAS)}{rng.randrange(2, 10)}{rng.randrange(100):02d}{rng.randrange(10**4):04d}"
    return "+1" + nsn, nsn                            # US: NPA NXX XXXX


def written_forms(e164: str, *, national: bool, rng: random.Random) -> str:
    """How a phone reports a ringing number: E.164, spaced international, or
    (Indian numbers, an Indian phone) the national forms."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat

    parsed = phonenumbers.parse(e164, None)
    if national and e164.startswith("+91"):
        if rng.random() < 0.5:
            return phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)   # "098765 43210"
        return phonenumbers.national_significant_number(parsed)                     # "9876543210"
    if rng.random() < 0.5:
        return e164
    return phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)       # "+91 98765 43210"


# --------------------------------------------------------------------------------------------
# Seeding with COPY
# --------------------------------------------------------------------------------------------
def _tsv(value) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def pg_connect(topo: Topology, autocommit: bool = True):
    import psycopg

    return psycopg.connect(topo.postgres.url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=autocommit, application_name="benchmark")


def grow(pg, *, org_id: int, owner_id: int, rng: random.Random, target_rows: int) -> dict:
    """Add contacts and phone-index rows until the organisation has `target_rows`
    rows in record_phones; VACUUM ANALYZE. Returns counts and seconds."""
    started = time.perf_counter()
    pg.execute("SET statement_timeout = 0")
    have = pg.execute("SELECT count(*) FROM record_phones WHERE organization_id = %s", (org_id,)).fetchone()[0]
    add = target_rows - have
    if add <= 0:
        return {"added": 0, "seconds": 0.0}
    shared_rows = int(add * SHARED_SHARE)
    n_contacts = add - shared_rows
    first_id = pg.execute("SELECT coalesce(max(id), 0) + 1 FROM contacts").fetchone()[0]
    # Switchboards: a company number shared by SWITCHBOARD_SIZE of the new contacts.
    members = rng.sample(range(n_contacts), min(shared_rows, n_contacts))
    switchboard_of: dict[int, int] = {}
    boards: list[tuple[str, str, str]] = []          # (e164, nsn, company)
    for k in range(0, len(members), SWITCHBOARD_SIZE):
        e164, nsn = random_number(rng, landline=True)
        boards.append((e164, nsn, f"{rng.choice(LAST)} Industries {first_id + k}"))
        for index in members[k:k + SWITCHBOARD_SIZE]:
            switchboard_of[index] = len(boards) - 1
    now = datetime.now(timezone.utc)
    contacts, phones = [], []
    for i in range(n_contacts):
        cid = first_id + i
        board = switchboard_of.get(i)
        company = boards[board][2] if board is not None else rng.choice(COMPANIES)
        spoken = now - timedelta(minutes=rng.randrange(1, 400 * 1440)) if rng.random() < 0.6 else None
        note = " ".join(rng.choices(NOTE_WORDS, k=rng.randrange(5, 60))) if rng.random() < 0.3 else None
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        contacts.append("\t".join(map(_tsv, (
            cid, org_id, name, company, f"c{cid}@example.test" if rng.random() < 0.4 else None,
            rng.choice(SOURCES), owner_id if rng.random() < 0.7 else None, now.isoformat(), now.isoformat(),
            spoken.isoformat() if spoken else None, spoken.isoformat() if spoken else None,
            rng.choice((1, 2, 3)) if spoken else None, note))))
        e164, nsn = random_number(rng)
        phones.append(f"{org_id}\tcontact\t{cid}\t{e164}\t{nsn[-SUFFIX_DIGITS:]}\t{e164}")
        if board is not None:
            b164, bnsn, _ = boards[board]
            phones.append(f"{org_id}\tcontact\t{cid}\t{b164}\t{bnsn[-SUFFIX_DIGITS:]}\t{b164}")
    generated = time.perf_counter()
    with pg.transaction():
        with pg.cursor() as cur:
            with cur.copy("COPY contacts (id, organization_id, name, company, email, source, owner_id, created_at, "
                          "updated_at, last_spoken_at, last_call_at, last_call_type, last_note) FROM STDIN") as copy:
                for k in range(0, len(contacts), 50_000):
                    copy.write("\n".join(contacts[k:k + 50_000]) + "\n")
            with cur.copy("COPY record_phones (organization_id, record_type, record_id, e164, suffix, raw) "
                          "FROM STDIN") as copy:
                for k in range(0, len(phones), 50_000):
                    copy.write("\n".join(phones[k:k + 50_000]) + "\n")
            cur.execute("SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT max(id) FROM contacts))")
    copied = time.perf_counter()
    pg.execute("VACUUM (ANALYZE) contacts")
    pg.execute("VACUUM (ANALYZE) record_phones")
    return {"added": len(phones), "contacts": n_contacts, "switchboards": len(boards),
            "generate_s": generated - started, "copy_s": copied - generated,
            "analyze_s": time.perf_counter() - copied, "seconds": time.perf_counter() - started}


def check_suffix_keys(pg, org_id: int, n: int = 500) -> int:
    """The seeded rows agree with the service's own normalisation (E.164 and suffix key)."""
    from mobile_sync.phones import normalize_number

    bad = 0
    for e164, suffix in pg.execute("SELECT e164, suffix FROM record_phones WHERE organization_id = %s "
                                   "ORDER BY random() LIMIT %s", (org_id, n)):
        number = normalize_number(e164, "IN")
        bad += number.e164 != e164 or number.suffix != suffix
    return bad


def make_lookups(pg, org_id: int, count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """`count` distinct look-ups (kind, written number, expected E.164): 50% hits
    written as E.164/international, 25% Indian hits written nationally, 25% misses."""
    import phonenumbers

    n_national = count // 4
    n_miss = count // 4
    n_exact = count - n_national - n_miss
    exact = [r[0] for r in pg.execute(
        "SELECT DISTINCT e164 FROM (SELECT e164 FROM record_phones WHERE organization_id = %s "
        "ORDER BY random() LIMIT %s) s", (org_id, int(n_exact * 1.2) + 10))]
    national = [r[0] for r in pg.execute(
        "SELECT DISTINCT e164 FROM (SELECT e164 FROM record_phones WHERE organization_id = %s "
        "AND e164 LIKE '+91%%' ORDER BY random() LIMIT %s) s", (org_id, int(n_national * 1.2) + 10))]
    rng.shuffle(exact)
    rng.shuffle(national)
    taken = set(exact[:n_exact])
    national = [e for e in national if e not in taken]
    candidates = []
    while len(candidates) < n_miss * 1.5 + 10:
        candidates.append(random_number(rng)[0])
    present = {r[0] for r in pg.execute("SELECT e164 FROM record_phones WHERE organization_id = %s "
                                        "AND e164 = ANY(%s)", (org_id, candidates))}
    misses = [e for e in dict.fromkeys(candidates) if e not in present]
    out = []
    for kind, pool, n in (("hit", exact, n_exact), ("national", national, n_national), ("miss", misses, n_miss)):
        for e164 in pool[:n]:
            if not phonenumbers.is_valid_number(phonenumbers.parse(e164, None)):
                continue
            national_form = kind == "national" or (kind == "miss" and rng.random() < 0.5)
            out.append((kind, written_forms(e164, national=national_form, rng=rng), e164))
    rng.shuffle(out)
    return out
