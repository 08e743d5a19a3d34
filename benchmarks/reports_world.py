"""The reps' books as their contacts, in a cluster seeded by `benchmarks.reports`.

The seed gives each rep a book of ~1,500 client numbers (a tenth shared with
the team) and two years of calls with them, written as processed calls
matched to nothing. An ingest batch (`ingest_batches.time_ingest`) takes seven
in ten of its calls from the rep's book ("the rep's own clients") and the
rest from new numbers; but with no record holding the book's numbers, the
processing run made a lead of every book number it met, about 770 new leads
a batch, as if every client called for the first time. A real rep's clients
are their contacts: this gives the cluster one contact per book number
(owned by the first rep whose book has it), with its number in the phone
index, once. Then a batch matches its book calls to contacts and makes leads
of its new numbers only (about 300 a batch), as the seed meant.

Written with SQL (COPY), as the seed writes its calls: ~690,000 contacts at
10M calls in a minute or two, where the service's import would take longer.
The numbers are the seed's, valid E.164; the suffix key is the service's own
(`phones.suffix_of_e164`).
"""
from __future__ import annotations

import time

from mobile_sync.phones import suffix_of_e164

SOURCE = "bench-book"  # the contacts this adds, so that it is done once


def give_books_contacts(pg, world: dict) -> int:
    """Add the contacts (`pg`: a psycopg connection; `world`: the seed's
    world.json). Returns how many were added: 0 when they are there already."""
    org = world["org"]
    if pg.execute("SELECT 1 FROM contacts WHERE organization_id = %s AND source = %s LIMIT 1",
                  (org, SOURCE)).fetchone():
        pg.rollback()
        return 0
    started = time.perf_counter()
    owners: dict[str, int] = {}
    for user_id, book in zip(world["users"], world["books"]):
        for number in book:
            owners.setdefault(number, user_id)
    numbers = sorted(owners)
    now = world["now"]
    with pg.cursor() as cursor:
        first = cursor.execute("SELECT nextval(pg_get_serial_sequence('contacts', 'id'))").fetchone()[0]
        # Ids taken as one block: the sequence moved past it, so the service's own inserts never meet them.
        cursor.execute("SELECT setval(pg_get_serial_sequence('contacts', 'id'), %s)", (first + len(numbers),))
        with cursor.copy("COPY contacts (id, organization_id, name, source, owner_id, created_at, updated_at) "
                         "FROM STDIN") as copy:
            for k, number in enumerate(numbers):
                copy.write_row((first + k, org, f"Client {number[-4:]}", SOURCE, owners[number], now, now))
        with cursor.copy("COPY record_phones (organization_id, record_type, record_id, e164, suffix, raw) "
                         "FROM STDIN") as copy:
            for k, number in enumerate(numbers):
                copy.write_row((org, "contact", first + k, number, suffix_of_e164(number), number))
        cursor.execute("ANALYZE contacts")
        cursor.execute("ANALYZE record_phones")
    pg.commit()
    print(f"the reps' books: {len(numbers):,} contacts added in {time.perf_counter() - started:.0f} s", flush=True)
    return len(numbers)
