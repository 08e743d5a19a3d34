"""What the search benchmark asks and how it times it: the mix of queries a
rep types in the search box, drawn from the seeded contacts (`make_searches`);
the caller-ID look-up, the search and the bare app alternated request by
request over one keep-alive connection each (`alternate`); and the list
query the service sends for one `q`, caught in process from
`mobile_sync.contacts.list_contacts` itself, so that the plans shown are of
the statements the service runs (`list_statements`, `explain_postgres`,
`explain_sqlite`)."""
from __future__ import annotations

import gc
import json
import re
import time
import urllib.parse

from benchmarks.caller_id_data import random_number
from benchmarks.caller_id_latency import KeepAlive, summary

# The query kinds, in the order they are reported; each is asked as often.
KINDS = ("name", "company", "national", "tail6", "tail7", "miss_name", "miss_number", "name_newest", "lead_name")
# The kinds asked with a `sort` (the others take the default order).
SORTED = {"name_newest": "created"}
# The kinds asked of another list than the contacts' (not in the mix: the target is set on contacts).
OTHER_LISTS = {"lead_name": "/api/v1/leads"}
NUMBER_KINDS = ("national", "tail6", "tail7")
# Generated names, companies and e-mails (c123@example.test) never start with these.
MISS_LETTERS = "xqzyfu"
MIN_ROUNDS = 5 * len(KINDS)


def _sample(db, ph: str, sql: str, params: tuple) -> list[tuple]:
    return list(db.execute(sql.replace("?", ph), params))


def make_searches(db, ph: str, org_id: int, count: int, rng) -> list[tuple[str, str, str | None]]:
    """`count` searches (kind, q, the E.164 a number search must find) drawn
    from the organisation's contacts and phone index; `db` a psycopg or
    sqlite3 connection, `ph` its placeholder ("%s" or "?")."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat

    per_kind = count // len(KINDS) + 1
    people = _sample(db, ph, "SELECT name, company FROM contacts WHERE organization_id = ? "
                             "ORDER BY random() LIMIT ?", (org_id, per_kind * 3))
    companies = [c for _, c in people if c]
    numbers = [r[0] for r in _sample(db, ph, "SELECT e164 FROM record_phones WHERE organization_id = ? "
                                             "ORDER BY random() LIMIT ?", (org_id, per_kind * 2))]
    indian = [r[0] for r in _sample(db, ph, "SELECT e164 FROM record_phones WHERE organization_id = ? AND "
                                            "substr(e164, 1, 3) = '+91' ORDER BY random() LIMIT ?",
                                    (org_id, per_kind))]
    lead_names = [r[0] for r in _sample(db, ph, "SELECT name FROM leads WHERE organization_id = ? "
                                                "ORDER BY random() LIMIT ?", (org_id, per_kind))]

    def cased(text: str) -> str:
        return rng.choice((text, text.lower(), text.capitalize()))

    def name_q(name: str) -> str:
        first, last = name.split(" ", 1)
        if rng.random() < 0.5:                                   # "priy", "Asha"
            return cased(first[:rng.randint(3, min(6, len(first)))])
        return cased(f"{first} {last[:rng.randint(1, 2)]}")      # "Asha R", "meera na"

    candidates = []
    while len(candidates) < per_kind * 2:
        candidates.append(random_number(rng)[0])
    placeholders = ", ".join([ph] * len(candidates))
    present = {r[0] for r in db.execute(f"SELECT e164 FROM record_phones WHERE organization_id = {ph} "
                                        f"AND e164 IN ({placeholders})", (org_id, *candidates))}
    absent = [e for e in dict.fromkeys(candidates) if e not in present]
    mixed = {
        "name": [(name_q(n), None) for n, _ in people],
        "company": [(cased(c[:rng.randint(3, 6)]), None) for c in companies],
        "national": [(phonenumbers.format_number(phonenumbers.parse(e, None), PhoneNumberFormat.NATIONAL), e)
                     for e in indian],                           # "098765 43210"
        "tail6": [(e[-6:], e) for e in numbers],
        "tail7": [(e[-7:], e) for e in numbers[per_kind:]],
        "name_newest": [(name_q(n), None) for n, _ in people[::-1]],  # a name, newest first
        "lead_name": [(name_q(n), None) for n in lead_names],        # GET /api/v1/leads?q=
        "miss_name": [("".join(rng.choice(MISS_LETTERS) + "".join(rng.choices("aeiourst", k=rng.randint(2, 5)))),
                       None) for _ in range(per_kind)],
        "miss_number": [(phonenumbers.format_number(phonenumbers.parse(e, None), PhoneNumberFormat.NATIONAL)
                         if e.startswith("+91") else e, None) for e in absent],
    }
    out = []
    for k in range(per_kind):
        for kind in KINDS:
            pool = mixed[kind]
            if pool:
                q, e164 = pool[k % len(pool)]
                out.append((kind, q, e164))
    return out[:count]


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------
def alternate(service: KeepAlive, bare: KeepAlive | None, org_id: int, lookups: list, searches: list, *,
              path: str, warmup: int, rounds: int, deadline: float) -> dict:
    """Round after round over one keep-alive connection each: the caller-ID
    look-up, a search (`path`?q=..., the next of `searches`; OTHER_LISTS' kinds
    on their own list) and the bare app's look-up of the same number, the order
    rotated each round, after `warmup` untimed rounds. Returns the timings
    (`summary`) of the caller-ID look-up, of the bare app, of the searches of
    `path` (the mix), of each kind, and what the searches found."""
    def caller_id(i: int) -> int:
        _, number, _ = lookups[i % len(lookups)]
        status, body, ns = service.request("GET", "/api/v1/caller-id?number=" + urllib.parse.quote(number))
        if status != 200:
            raise RuntimeError(f"caller-id -> {status} {body[:300]!r}")
        return ns

    def reference(i: int) -> int:
        _, _, e164 = lookups[i % len(lookups)]
        status, body, ns = bare.request("GET", f"/caller-id?org={org_id}&number=" + urllib.parse.quote(e164))
        if status != 200:
            raise RuntimeError(f"bare -> {status} {body[:300]!r}")
        return ns

    found = {kind: {"asked": 0, "some": 0, "expected_found": 0, "not_found": [], "nothing": []} for kind in KINDS}

    def search(i: int) -> int:
        kind, q, e164 = searches[i % len(searches)]
        asked = {"q": q, "sort": SORTED[kind]} if kind in SORTED else {"q": q}
        listed = OTHER_LISTS.get(kind, path)
        status, body, ns = service.request("GET", f"{listed}?" + urllib.parse.urlencode(asked))
        if status != 200:
            raise RuntimeError(f"{listed}?q={q!r} -> {status} {body[:300]!r}")
        if i >= warmup:
            items = json.loads(body)["items"]
            tally = found[kind]
            tally["asked"] += 1
            tally["some"] += bool(items)
            if not items:
                tally["nothing"].append(q)
            hit = e164 is not None and any(e164 in item["phones"] for item in items)
            tally["expected_found"] += hit
            if e164 is not None and not hit:
                tally["not_found"].append(q)
        return ns

    timed = {"caller_id": [], "search": [], "bare": []}
    by_kind: dict[str, list[int]] = {kind: [] for kind in KINDS}
    steps = [("caller_id", caller_id), ("search", search)] + ([("bare", reference)] if bare else [])
    # Warming up takes at most a tenth of the time; at least MIN_ROUNDS are timed whatever the budget says.
    warm_until = time.monotonic() + (deadline - time.monotonic()) / 10
    gc.collect()
    gc.disable()
    try:
        for i in range(warmup + rounds):
            if i < warmup and time.monotonic() > warm_until:
                warmup = i
            if i >= warmup + MIN_ROUNDS and time.monotonic() > deadline:
                print(f"  time budget reached after {i - warmup} rounds", flush=True)
                break
            shift = i % len(steps)
            for name, step in steps[shift:] + steps[:shift]:
                ns = step(i)
                if i >= warmup:
                    kind = searches[i % len(searches)][0] if name == "search" else None
                    if kind not in OTHER_LISTS:
                        timed[name].append(ns)
                    if kind is not None:
                        by_kind[kind].append(ns)
    finally:
        gc.enable()
    out = {name: summary(values) for name, values in timed.items() if values}
    out["kinds"] = {kind: summary(values) for kind, values in by_kind.items() if values}
    out["found"] = found
    out["reconnects"] = service.reconnects + (bare.reconnects if bare else 0)
    return out


# --------------------------------------------------------------------------------------------
# The list query the service sends, and its plan
# --------------------------------------------------------------------------------------------
def list_statements(engine, org_id: int, q: str, region: str, sort: str | None = None) -> list[tuple[str, object]]:
    """(SQL, parameters) of every statement `list_contacts` sends for `q`
    that reads contacts or the phone index (a page is read branch by branch:
    mobile_sync.record_pages), as the driver receives them; the page's
    phone numbers (read after) aside."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from mobile_sync.contacts import list_contacts
    from mobile_sync.store import bulk_sql

    sent: list = []

    def catch(_conn, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    # PostgreSQL: the statements that go straight to psycopg (`driver_rows`) too.
    straight = bulk_sql._PostgresBulkSQL.rows

    def caught(self, connection, statement, params, prepare):
        compiled = statement.compile(dialect=connection.dialect)
        sent.append((str(compiled), {**compiled.params, **params}))
        return straight(self, connection, statement, params, prepare)

    event.listen(engine, "before_cursor_execute", catch)
    bulk_sql._PostgresBulkSQL.rows = caught
    try:
        with Session(engine) as session:
            list_contacts(session, org_id, q=q, region=region, sort=sort)
            session.rollback()
    finally:
        bulk_sql._PostgresBulkSQL.rows = straight
        event.remove(engine, "before_cursor_execute", catch)
    # Not the page's numbers (list_pages.page_numbers, read after the search).
    return [(s, p) for s, p in sent if "FROM contacts" in s
            or "FROM record_phones" in s and "record_phones.record_id, record_phones.e164" not in s]


def explain_postgres(engine, statement: str, parameters, *, generic: bool = False) -> tuple[str, float]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement: (the plan's text, execution ms).
    `generic`: the plan PostgreSQL caches for the statement prepared with its
    parameters unknown (what psycopg's prepared statements may get after 5 runs)."""
    from psycopg import sql

    with engine.connect() as conn:
        if not generic:
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
        else:
            names: list[str] = []

            def numbered(match) -> str:
                if match.group(1) not in names:
                    names.append(match.group(1))
                return f"${names.index(match.group(1)) + 1}"

            prepared = re.sub(r"%\((\w+)\)s", numbered, statement).replace("%%", "%")
            raw = conn.connection.driver_connection
            values = sql.SQL(", ").join(sql.Literal(parameters[n]) for n in names).as_string(raw)
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            raw.execute(f"PREPARE search_generic AS {prepared}")
            rows = raw.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE search_generic ({values})").fetchall()
            raw.execute("DEALLOCATE search_generic")
            conn.exec_driver_sql("RESET plan_cache_mode")
        conn.rollback()
    text = "\n".join(r[0] for r in rows)
    found = re.search(r"Execution Time: ([\d.]+) ms", text)
    return text, float(found.group(1)) if found else float("nan")


def explain_sqlite(db, statement: str, parameters, repeat: int = 5) -> tuple[str, float]:
    """EXPLAIN QUERY PLAN of the statement on `db` (sqlite3), and its best
    time of `repeat` runs in this process (ms)."""
    plan = "\n".join(f"{'  ' * (row[1] != 0)}{row[3]}" for row in
                     db.execute("EXPLAIN QUERY PLAN " + statement, parameters))
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        db.execute(statement, parameters).fetchall()
        best = min(best, time.perf_counter() - started)
        if best > 0.5:  # a scan: once is enough
            break
    return plan, best * 1000
