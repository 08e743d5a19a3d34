"""The search benchmark on each database: the production topology
(PostgreSQL + Redis + gunicorn, `run_postgres`) and the embedded default
(SQLite + gunicorn as `scripts/run` serves it, `run_sqlite`), each with its
bare caller-ID app, seeded and grown as the caller-ID benchmarks do; at each
size the timed rounds (`search_queries.alternate`) and the list query's
plans. Each returns its figures per size."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

from benchmarks import caller_id as pg_bench
from benchmarks import caller_id_data as pg_data
from benchmarks import caller_id_embedded as lite
from benchmarks.caller_id_latency import KeepAlive
from benchmarks.reports_seed import measuring
from benchmarks.search_queries import (
    KINDS, NUMBER_KINDS, OTHER_LISTS, SORTED, alternate, explain_postgres, explain_sqlite, list_statements, make_searches,
)
from scripts.simulate_phone import Client, give_consent, register_device, sign_in

PATH = "/api/v1/contacts"
REGION = "IN"
# The plans printed in full at the largest size; the other kinds show their time only.
SHOWN = ("name", "tail6", "name_newest")


def fmt_size(n: int) -> str:
    return lite.fmt_size(n)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def sign_up(base_url: str, what: str):
    client = Client(base_url, timeout=60, attempts=4)
    phone = sign_in(client, email=f"bench-search-{what}-{time.time_ns()}@example.test", password="benchmark password",
                    organization=f"Search Benchmark ({what})", region=REGION, name="Rep")
    register_device(phone)
    give_consent(phone)
    return phone


def print_size(label: str, m: dict) -> None:
    c, s = m["caller_id"], m["search"]
    b = m.get("bare")
    print(f"  caller-id      p50 {c['p50']:7.2f}  p99 {c['p99']:8.2f} ms  (n={c['n']})")
    if b:
        print(f"  bare app       p50 {b['p50']:7.2f}  p99 {b['p99']:8.2f} ms  (caller-id p99 {c['p99'] / b['p99']:.2f}x)")
    print(f"  search, mix    p50 {s['p50']:7.2f}  p99 {s['p99']:8.2f} ms  p99/caller-id {s['p99'] / c['p99']:6.2f}x")
    for kind, k in m["kinds"].items():
        f = m["found"][kind]
        what = (f"its record on the page {f['expected_found']}" if kind in NUMBER_KINDS
                else f"found something {f['some']}")
        print(f"    {kind:12s} p50 {k['p50']:7.2f}  p99 {k['p99']:8.2f} ms  p99/caller-id {k['p99'] / c['p99']:6.2f}x"
              f"  (n={k['n']}, {what})")
    print(f"  load average {m['load']}", flush=True)


def one_per_kind(searches: list) -> dict:
    """A query of each kind of the contacts' list (whose statements are explained)."""
    return {kind: next((q, e) for k, q, e in searches if k == kind) for kind in KINDS
            if kind not in OTHER_LISTS and any(k == kind for k, _, _ in searches)}


# Leads: one for every tenth contact, its name, company and e-mail, a number of
# its own ("+9170" and the contact's id) kept outside the phone index (caller
# ID's work stays as it was).
_LEADS = ("INSERT INTO leads (organization_id, name, phone, company, email, source, status, owner_id, created_at, "
          "updated_at, calls_count) SELECT organization_id, name, {phone}, company, email, 'phone_call', "
          "CASE id {mod} 4 WHEN 0 THEN 'approved' WHEN 1 THEN 'rejected' ELSE 'pending_review' END, owner_id, "
          "created_at, updated_at, 0 FROM contacts WHERE organization_id = {ph} AND id {mod} 10 = 0 AND id > {ph}")


def seed_leads(db, ph: str, org_id: int) -> int:
    """Leads for the contacts added since the last seeding (`db` psycopg with
    autocommit, or sqlite3; `ph` its placeholder); returns how many the organisation has."""
    postgres = ph == "%s"
    phone = "'+9170' || lpad(id::text, 8, '0')" if postgres else "printf('+9170%08d', id)"
    number = "substr(phone, 6)::int" if postgres else "CAST(substr(phone, 6) AS INTEGER)"
    after = db.execute(f"SELECT coalesce(max({number}), 0) FROM leads WHERE organization_id = {ph} "
                       f"AND substr(phone, 1, 5) = '+9170'", (org_id,)).fetchone()[0]
    statement = _LEADS.format(phone=phone, mod="%%" if postgres else "%", ph=ph)
    if postgres:
        db.execute(statement, (org_id, after))
        db.execute("VACUUM (ANALYZE) leads")
    else:
        with db:
            db.execute(statement, (org_id, after))
    return db.execute(f"SELECT count(*) FROM leads WHERE organization_id = {ph}", (org_id,)).fetchone()[0]


# --------------------------------------------------------------------------------------------
# PostgreSQL: the production topology
# --------------------------------------------------------------------------------------------
def _timed(args, sizes: list[int], size: int, service, bare, org_id: int, lookups, searches, **facts) -> dict:
    """One size's searches and caller-ID look-ups, alternated, under the lock
    the caller holds; printed and returned with `facts` and the load."""
    print(f"  timing from {time.strftime('%H:%M:%S')}, load average {load()}", flush=True)
    m = alternate(service, bare, org_id, lookups, searches, path=PATH, warmup=args.warmup,
                  rounds=args.rounds, deadline=time.monotonic() + max(30.0, args.budget / len(sizes)))
    m.update(facts, load=load())
    print_size(fmt_size(size), m)
    return m


def _statements(engine, org_id: int, kind: str, q: str) -> list[tuple[str, object]]:
    return list_statements(engine, org_id, q, REGION, SORTED.get(kind))


def postgres_plans(engine, org_id: int, searches: list, full: bool) -> dict:
    """Per kind: the plans of the statements the list sends, with their values
    (custom plans) and, with the values unknown, the generic plans a prepared
    statement may cache; their execution times added up."""
    plans = {}
    for kind, (q, _) in one_per_kind(searches).items():
        statements = _statements(engine, org_id, kind, q)
        custom = [explain_postgres(engine, statement, parameters) for statement, parameters in statements]
        generic = [explain_postgres(engine, statement, parameters, generic=True) for statement, parameters in statements]
        custom_ms, generic_ms = sum(ms for _, ms in custom), sum(ms for _, ms in generic)
        plans[kind] = {"q": q, "custom_ms": custom_ms, "generic_ms": generic_ms, "statements": len(statements),
                       "sql": [statement for statement, _ in statements],
                       "plan": [plan for plan, _ in custom], "generic_plan": [plan for plan, _ in generic]}
        print(f"  EXPLAIN ANALYZE {kind:12s} q={q!r:18s} {len(statements)} statements, execution {custom_ms:9.3f} ms "
              f"(custom plans), {generic_ms:9.3f} ms (generic plans)", flush=True)
    if full:
        for kind in SHOWN:
            if kind not in plans:
                continue
            for which, how in (("plan", "values known (custom plan)"), ("generic_plan", "generic plan")):
                for sql, plan in zip(plans[kind]["sql"], plans[kind][which]):
                    print(f"\n  EXPLAIN (ANALYZE, BUFFERS), {kind} q={plans[kind]['q']!r}, {how}:\n    "
                          + sql.replace("\n", " ") + "\n    " + plan.replace("\n", "\n    "), flush=True)
    return plans


def run_postgres(args, sizes: list[int], rng) -> dict:
    """The production topology, as benchmarks/caller_id.py starts it, and its bare app."""
    from tests.topology import Topology

    results: dict = {"database": "postgresql", "sizes": {}, "load_start": load()}
    topo = Topology(web_workers=args.web_workers, web_threads=args.web_threads, rq_workers=1,
                    durable_postgres=not args.no_fsync)
    topo.__enter__()
    pg = bare_proc = None
    try:
        phone = sign_up(topo.base_url, "postgresql")
        org_id = phone.organization_id
        topo.execute("UPDATE organizations SET plan = 'unlimited' WHERE id = :o", {"o": org_id})
        owner_id = topo.scalar("SELECT user_id FROM devices WHERE id = :d", d=phone.device_id)
        pg = pg_data.pg_connect(topo)
        pg_bench.create_bare_table(pg)
        bare_proc, bare_port = pg_bench.start_reference(topo, "bare-caller-id", "benchmarks.caller_id_bare:create_app()",
                                                        {"BARE_DATABASE_URL": pg_bench.bare_database_url(topo)})
        service, bare = KeepAlive(topo.port, phone.device_token), KeepAlive(bare_port, "unused")
        version = pg.execute("SHOW server_version").fetchone()[0]
        results["server"] = f"PostgreSQL {version}"
        print(f"\nPostgreSQL {version}, Redis, gunicorn {args.web_workers} workers x {args.web_threads} threads "
              f"(tests/topology.py), {'durable' if not args.no_fsync else 'no fsync'}; organisation {org_id}",
              flush=True)
        copied_to = 0
        for size in sizes:
            seeded = pg_data.grow(pg, org_id=org_id, owner_id=owner_id, rng=rng, target_rows=size)
            if pg_data.check_suffix_keys(pg, org_id) > 5:
                raise SystemExit("seeded rows disagree with mobile_sync.phones.normalize_number")
            copied_to, _ = pg_bench.copy_to_bare(pg, org_id, copied_to)
            contacts = pg.execute("SELECT count(*) FROM contacts WHERE organization_id = %s", (org_id,)).fetchone()[0]
            leads = seed_leads(pg, "%s", org_id)
            lookups = pg_data.make_lookups(pg, org_id, args.rounds, rng)
            searches = make_searches(pg, "%s", org_id, args.rounds, rng)
            print(f"\n{fmt_size(size)} (PostgreSQL): {contacts:,} contacts, {size:,} index rows, {leads} leads; "
                  f"+{seeded['added']:,} rows in {seeded['seconds']:.0f}s; load average {load()}", flush=True)
            with measuring(args.lock):  # the seeding above runs outside the lock
                m = _timed(args, sizes, size, service, bare, org_id, lookups, searches,
                           contacts=contacts, leads=leads, seed=seeded)
                m["plans"] = postgres_plans(topo.engine(), org_id, searches, full=size == sizes[-1])
            results["sizes"][size] = m
        service.close()
        bare.close()
    finally:
        if bare_proc is not None:
            bare_proc.stop()
        if pg is not None:
            pg.close()
        topo.close()
    results["load_end"] = load()
    return results


# --------------------------------------------------------------------------------------------
# SQLite: the embedded default
# --------------------------------------------------------------------------------------------
def sqlite_plans(db_path: Path, org_id: int, searches: list, full: bool) -> dict:
    """Per kind: EXPLAIN QUERY PLAN of the statements the list sends, on a new
    connection (as a gunicorn worker that starts now would plan them), and
    their best times here, added up."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{db_path}")
    plans = {}
    try:
        with sqlite3.connect(db_path) as db:
            for kind, (q, _) in one_per_kind(searches).items():
                statements = _statements(engine, org_id, kind, q)
                explained = [explain_sqlite(db, statement, parameters) for statement, parameters in statements]
                ms = sum(t for _, t in explained)
                plans[kind] = {"q": q, "ms": ms, "statements": len(statements),
                               "sql": [statement for statement, _ in statements],
                               "plan": [plan for plan, _ in explained]}
                flat = "; ".join(plan.replace("\n", ", ") for plan, _ in explained)
                print(f"  {kind:12s} q={q!r:18s} {len(statements)} statements, {ms:9.3f} ms in process; "
                      f"{flat if not full else ''}"[:400], flush=True)
            if full:
                for kind, p in plans.items():
                    print(f"\n  EXPLAIN QUERY PLAN, {kind} q={p['q']!r} ({p['ms']:.2f} ms):")
                    for sql, plan in zip(p["sql"], p["plan"]):
                        print("    " + sql.replace("\n", " ") + "\n      " + plan.replace("\n", "\n      "),
                              flush=True)
    finally:
        engine.dispose()
    return plans


def run_sqlite(args, sizes: list[int], rng, work: Path) -> dict:
    """The service as scripts/run serves it, and its bare app, as benchmarks/caller_id_embedded.py starts them."""
    results: dict = {"database": "sqlite", "sizes": {}, "load_start": load(),
                     "server": f"SQLite {sqlite3.sqlite_version}"}
    (work / "service").mkdir(parents=True, exist_ok=True)
    (work / "bare").mkdir(parents=True, exist_ok=True)
    db_path, bare_path = work / "service" / "app.db", work / "bare" / "bare.db"
    env = lite.service_env()
    with sqlite3.connect(bare_path) as bare_db:
        bare_db.execute("PRAGMA journal_mode=WAL")
        bare_db.executescript(lite.BARE_SCHEMA)
    subprocess.run([str(lite.VENV_BIN / "flask"), "--app", "server", "db", "upgrade"], cwd=lite.ROOT, check=True,
                   env={**env, "DATA_DIR": str(work / "service")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs, db = [], None
    try:
        service_proc, service_port = lite.start_gunicorn("service", "server:create_app()", work / "service", env)
        procs.append(service_proc)
        bare_proc, bare_port = lite.start_gunicorn("bare", "benchmarks.caller_id_bare:create_app()", work / "bare",
                                                   {**env, "BARE_DATABASE_URL": f"sqlite:///{bare_path}"})
        procs.append(bare_proc)
        phone = sign_up(f"http://127.0.0.1:{service_port}", "sqlite")
        org_id = phone.organization_id
        db = sqlite3.connect(db_path, timeout=60)
        with db:
            db.execute("UPDATE organizations SET plan = 'unlimited' WHERE id = ?", (org_id,))
        owner_id = db.execute("SELECT user_id FROM devices WHERE id = ?", (phone.device_id,)).fetchone()[0]
        service, bare = KeepAlive(service_port, phone.device_token), KeepAlive(bare_port, "unused")
        print(f"\nSQLite {sqlite3.sqlite_version}, gunicorn.conf.py ({os.environ.get('WEB_CONCURRENCY', '2')} workers "
              f"x {os.environ.get('WEB_THREADS', '4')} threads), no Redis (scripts/run); {work}", flush=True)
        for size in sizes:
            seeded = lite.grow(db, org_id=org_id, owner_id=owner_id, rng=rng, target_rows=size)
            if lite.check_suffix_keys(db, org_id) > 5:
                raise SystemExit("seeded rows disagree with mobile_sync.phones.normalize_number")
            lite.copy_to_bare(db, bare_path, org_id)
            contacts = db.execute("SELECT count(*) FROM contacts WHERE organization_id = ?", (org_id,)).fetchone()[0]
            leads = seed_leads(db, "?", org_id)
            stats = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0]
            lookups = lite.make_lookups(db, org_id, args.rounds, rng)
            searches = make_searches(db, "?", org_id, args.rounds, rng)
            print(f"\n{fmt_size(size)} (SQLite): {contacts:,} contacts, {size:,} index rows, {leads} leads; "
                  f"+{seeded['added']:,} rows in {seeded['seconds']:.0f}s; sqlite_stat1 "
                  f"{'present' if stats else 'absent (no ANALYZE, as a new file)'}; load average {load()}", flush=True)
            with measuring(args.lock):  # the seeding above runs outside the lock
                m = _timed(args, sizes, size, service, bare, org_id, lookups, searches,
                           contacts=contacts, leads=leads, seed=seeded)
                m["plans"] = sqlite_plans(db_path, org_id, searches, full=size == sizes[-1])
            results["sizes"][size] = m
        service.close()
        bare.close()
    finally:
        if db is not None:
            db.close()
        for proc in procs:
            proc.stop()
    results["load_end"] = load()
    return results
