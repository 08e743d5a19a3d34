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
from benchmarks.search_queries import (
    KINDS, NUMBER_KINDS, alternate, explain_postgres, explain_sqlite, list_statement, make_searches, proposed_statement,
)
from scripts.simulate_phone import Client, give_consent, register_device, sign_in

PATH = "/api/v1/contacts"
REGION = "IN"
# The plans printed in full at the largest size; the other kinds show their time only.
SHOWN = ("name", "tail6")


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
    return {kind: next((q, e) for k, q, e in searches if k == kind) for kind in KINDS
            if any(k == kind for k, _, _ in searches)}


# --------------------------------------------------------------------------------------------
# PostgreSQL: the production topology
# --------------------------------------------------------------------------------------------
def postgres_plans(engine, org_id: int, searches: list, full: bool) -> dict:
    """Per kind: the list query's plan with its values (the custom plan) and,
    with the values unknown, the generic plan a prepared statement may cache."""
    plans = {}
    for kind, (q, _) in one_per_kind(searches).items():
        statement, parameters = list_statement(engine, org_id, q, REGION)
        custom, custom_ms = explain_postgres(engine, statement, parameters)
        generic, generic_ms = explain_postgres(engine, statement, parameters, generic=True)
        proposed, proposed_ms = explain_postgres(engine, *proposed_statement(engine, org_id, q, REGION))
        plans[kind] = {"q": q, "custom_ms": custom_ms, "generic_ms": generic_ms, "plan": custom,
                       "generic_plan": generic, "proposed_ms": proposed_ms, "proposed_plan": proposed}
        print(f"  EXPLAIN ANALYZE {kind:12s} q={q!r:18s} execution {custom_ms:9.3f} ms (custom plan), "
              f"{generic_ms:9.3f} ms (generic plan); the UNION ALL rewrite {proposed_ms:8.3f} ms", flush=True)
    if full:
        print(f"  the list query for {plans[SHOWN[0]]['q']!r}:\n    "
              + list_statement(engine, org_id, plans[SHOWN[0]]["q"], REGION)[0].replace("\n", " "))
        for kind in SHOWN:
            for which, how in (("plan", "values known (custom plan)"), ("generic_plan", "generic plan"),
                               ("proposed_plan", "the UNION ALL rewrite, not the service's query")):
                print(f"\n  EXPLAIN (ANALYZE, BUFFERS), {kind} q={plans[kind]['q']!r}, {how}:")
                print("    " + plans[kind][which].replace("\n", "\n    "), flush=True)
    return plans


def run_postgres(args, sizes: list[int], rng, deadline: float) -> dict:
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
        for index, size in enumerate(sizes):
            seeded = pg_data.grow(pg, org_id=org_id, owner_id=owner_id, rng=rng, target_rows=size)
            if pg_data.check_suffix_keys(pg, org_id) > 5:
                raise SystemExit("seeded rows disagree with mobile_sync.phones.normalize_number")
            copied_to, _ = pg_bench.copy_to_bare(pg, org_id, copied_to)
            contacts = pg.execute("SELECT count(*) FROM contacts WHERE organization_id = %s", (org_id,)).fetchone()[0]
            leads = pg.execute("SELECT count(*) FROM leads WHERE organization_id = %s", (org_id,)).fetchone()[0]
            lookups = pg_data.make_lookups(pg, org_id, args.rounds, rng)
            searches = make_searches(pg, "%s", org_id, args.rounds, rng)
            print(f"\n{fmt_size(size)} (PostgreSQL): {contacts:,} contacts, {size:,} index rows, {leads} leads; "
                  f"+{seeded['added']:,} rows in {seeded['seconds']:.0f}s; load average {load()}", flush=True)
            share = (deadline - time.monotonic() - (sizes[-1] - size) * 3e-4) / max(1, len(sizes) - index)
            m = alternate(service, bare, org_id, lookups, searches, path=PATH, warmup=args.warmup,
                          rounds=args.rounds, deadline=time.monotonic() + max(30.0, share))
            m.update(contacts=contacts, leads=leads, seed=seeded, load=load())
            print_size(fmt_size(size), m)
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
    """Per kind: EXPLAIN QUERY PLAN of the list query on a new connection (as
    a gunicorn worker that starts now would plan it) and its best time here."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{db_path}")
    plans = {}
    try:
        with sqlite3.connect(db_path) as db:
            for kind, (q, _) in one_per_kind(searches).items():
                statement, parameters = list_statement(engine, org_id, q, REGION)
                plan, ms = explain_sqlite(db, statement, parameters)
                proposed, proposed_ms = explain_sqlite(db, *proposed_statement(engine, org_id, q, REGION))
                plans[kind] = {"q": q, "ms": ms, "plan": plan, "proposed_ms": proposed_ms, "proposed_plan": proposed}
                flat = plan.replace("\n", "; ")
                print(f"  {kind:12s} q={q!r:18s} {ms:9.3f} ms in process, the UNION ALL rewrite {proposed_ms:8.3f} ms; "
                      f"{flat if not full else ''}"[:230], flush=True)
            if full:
                print(f"  the list query for {plans[SHOWN[0]]['q']!r}:\n    " + list_statement(
                    engine, org_id, plans[SHOWN[0]]["q"], REGION)[0].replace("\n", " "))
                for kind, p in plans.items():
                    print(f"\n  EXPLAIN QUERY PLAN, {kind} q={p['q']!r} ({p['ms']:.2f} ms):\n    "
                          + p["plan"].replace("\n", "\n    "), flush=True)
                for kind in SHOWN:
                    print(f"\n  EXPLAIN QUERY PLAN, {kind} q={plans[kind]['q']!r}, the UNION ALL rewrite, not the "
                          f"service's query ({plans[kind]['proposed_ms']:.2f} ms):\n    "
                          + plans[kind]["proposed_plan"].replace("\n", "\n    "), flush=True)
    finally:
        engine.dispose()
    return plans


def run_sqlite(args, sizes: list[int], rng, deadline: float, work: Path) -> dict:
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
        for index, size in enumerate(sizes):
            seeded = lite.grow(db, org_id=org_id, owner_id=owner_id, rng=rng, target_rows=size)
            if lite.check_suffix_keys(db, org_id) > 5:
                raise SystemExit("seeded rows disagree with mobile_sync.phones.normalize_number")
            lite.copy_to_bare(db, bare_path, org_id)
            contacts = db.execute("SELECT count(*) FROM contacts WHERE organization_id = ?", (org_id,)).fetchone()[0]
            leads = db.execute("SELECT count(*) FROM leads WHERE organization_id = ?", (org_id,)).fetchone()[0]
            stats = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0]
            lookups = lite.make_lookups(db, org_id, args.rounds, rng)
            searches = make_searches(db, "?", org_id, args.rounds, rng)
            print(f"\n{fmt_size(size)} (SQLite): {contacts:,} contacts, {size:,} index rows, {leads} leads; "
                  f"+{seeded['added']:,} rows in {seeded['seconds']:.0f}s; sqlite_stat1 "
                  f"{'present' if stats else 'absent (no ANALYZE, as a new file)'}; load average {load()}", flush=True)
            share = (deadline - time.monotonic() - (sizes[-1] - size) * 2e-4) / max(1, len(sizes) - index)
            m = alternate(service, bare, org_id, lookups, searches, path=PATH, warmup=args.warmup,
                          rounds=args.rounds, deadline=time.monotonic() + max(30.0, share))
            m.update(contacts=contacts, leads=leads, seed=seeded, load=load())
            print_size(fmt_size(size), m)
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
