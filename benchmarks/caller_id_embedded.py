"""Caller ID on the embedded default, at 10k, 100k and 1M contacts of one
organisation, against a fixed reference measured alternately in the same run.

The service exactly as `scripts/run` serves it: `flask db upgrade`, then
gunicorn with gunicorn.conf.py (its workers and threads), the SQLite file
under DATA_DIR, no Redis. One organisation (region IN) signs up over HTTP and
registers a phone; its contacts and their phone-index rows are then written
straight into the file (Indian, UK and US numbers from
`benchmarks/caller_id_data.py`, 2% on switchboard numbers, suffix keys checked
on a sample against `mobile_sync.phones.normalize_number`). Nothing runs
ANALYZE after a step: the look-ups must be planned right with the statistics
the service took when it started (none on this fresh file).

The reference (`benchmarks/caller_id_bare.py`): a bare Flask app that
imports nothing from the project, under the same gunicorn settings, serving
one indexed SELECT of the same number from a SQLite file of the same numbers,
names and companies.

At each size, over one keep-alive connection to each, request by request,
alternating which goes first:
  GET /api/v1/caller-id?number=...  (the phone's device token) hits written as
                                    E.164 or nationally, and misses
  GET /caller-id?org=..&number=E164 the bare app, the same number

    .venv/bin/python benchmarks/caller_id_embedded.py [--sizes 10000,100000,1000000] [--samples N]
                                                      [--budget S] [--keep DIR]

Targets (issue 16): p99(caller-id) <= 2x p99(bare app) at 100k; p99 from 10k
to 1M <= 1.2x. The exit status is 1 when a target is missed. Not part of the
test suite. Numbers on a shared machine are noisy: run it more than once.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.caller_id_bare import SCHEMA as BARE_SCHEMA  # noqa: E402
from benchmarks.caller_id_data import (  # noqa: E402
    COMPANIES, FIRST, LAST, NOTE_WORDS, SHARED_SHARE, SOURCES, SUFFIX_DIGITS, SWITCHBOARD_SIZE, random_number,
    written_forms,
)
from benchmarks.caller_id_latency import KeepAlive, alternate_lookups, report_checks  # noqa: E402
from scripts.simulate_phone import Client, give_consent, register_device, sign_in  # noqa: E402
from tests.processes import Proc  # noqa: E402
from tests.servers import free_port, wait_for_port  # noqa: E402

TARGET_VS_BARE = 2.0   # at 100k
TARGET_GROWTH = 1.2    # 10k -> 1M
VENV_BIN = ROOT / ".venv" / "bin"
EXACT_PROBE = ("EXPLAIN QUERY PLAN SELECT record_type, record_id, e164 FROM record_phones "
               "WHERE organization_id = ? AND e164 = ?")


def fmt_size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))


# --------------------------------------------------------------------------------------------
# The two servers
# --------------------------------------------------------------------------------------------
def start_gunicorn(name: str, app: str, data_dir: Path, env: dict) -> tuple[Proc, int]:
    """gunicorn with gunicorn.conf.py, as scripts/run starts it."""
    port = free_port()
    proc = Proc(name, [str(VENV_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                       app], {**env, "DATA_DIR": str(data_dir)}, data_dir / f"{name}.log")
    proc.start()
    try:
        wait_for_port(port, timeout=60)
    except RuntimeError:
        print(proc.tail(), file=sys.stderr)
        raise
    return proc, port


def service_env() -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "DATABASE_URL", "APP_ENV", "FCM_CREDENTIALS", "PROMETHEUS_MULTIPROC_DIR")}
    return {**env, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}


# --------------------------------------------------------------------------------------------
# Seeding, straight into the SQLite file
# --------------------------------------------------------------------------------------------
def grow(db: sqlite3.Connection, *, org_id: int, owner_id: int, rng: random.Random, target_rows: int) -> dict:
    """Add contacts and phone-index rows until the organisation has
    `target_rows` rows in record_phones (as `caller_id_data.grow` does on
    PostgreSQL, with executemany instead of COPY)."""
    started = time.perf_counter()
    have = db.execute("SELECT count(*) FROM record_phones WHERE organization_id = ?", (org_id,)).fetchone()[0]
    add = target_rows - have
    if add <= 0:
        return {"added": 0, "seconds": 0.0}
    shared_rows = int(add * SHARED_SHARE)
    n_contacts = add - shared_rows
    first_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM contacts").fetchone()[0]
    members = rng.sample(range(n_contacts), min(shared_rows, n_contacts))
    switchboard_of: dict[int, tuple[str, str, str]] = {}
    for k in range(0, len(members), SWITCHBOARD_SIZE):
        e164, nsn = random_number(rng, landline=True)
        board = (e164, nsn, f"{rng.choice(LAST)} Industries {first_id + k}")
        for index in members[k:k + SWITCHBOARD_SIZE]:
            switchboard_of[index] = board
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # the service stores naive UTC on SQLite
    stamp = now.isoformat(" ")
    contacts, phones = [], []
    for i in range(n_contacts):
        cid = first_id + i
        board = switchboard_of.get(i)
        spoken = (now - timedelta(minutes=rng.randrange(1, 400 * 1440))).isoformat(" ") if rng.random() < 0.6 \
            else None
        contacts.append((cid, org_id, f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                         board[2] if board else rng.choice(COMPANIES),
                         f"c{cid}@example.test" if rng.random() < 0.4 else None, rng.choice(SOURCES),
                         owner_id if rng.random() < 0.7 else None, stamp, stamp, spoken, spoken,
                         rng.choice((1, 2, 3)) if spoken else None,
                         " ".join(rng.choices(NOTE_WORDS, k=rng.randrange(5, 60))) if rng.random() < 0.3 else None))
        for e164, nsn in ((random_number(rng),) + ((board[:2],) if board else ())):
            phones.append((org_id, "contact", cid, e164, nsn[-SUFFIX_DIGITS:], e164))
    generated = time.perf_counter()
    with db:
        db.executemany("INSERT INTO contacts (id, organization_id, name, company, email, source, owner_id, "
                       "created_at, updated_at, last_spoken_at, last_call_at, last_call_type, last_note) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", contacts)
        db.executemany("INSERT INTO record_phones (organization_id, record_type, record_id, e164, suffix, raw) "
                       "VALUES (?, ?, ?, ?, ?, ?)", phones)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"added": len(phones), "contacts": n_contacts, "generate_s": generated - started,
            "insert_s": time.perf_counter() - generated, "seconds": time.perf_counter() - started}


def copy_to_bare(db: sqlite3.Connection, bare_path: Path, org_id: int) -> int:
    """The bare app's file: the same numbers, names and companies (the rows added since the last copy)."""
    db.execute("ATTACH DATABASE ? AS bare", (str(bare_path),))
    try:
        with db:
            last = db.execute("SELECT coalesce(max(rowid), 0) FROM bare.numbers").fetchone()[0]
            db.execute("INSERT INTO bare.numbers (rowid, organization_id, e164, record_type, record_id, name, company) "
                       "SELECT p.id, p.organization_id, p.e164, p.record_type, p.record_id, c.name, c.company "
                       "FROM record_phones AS p LEFT JOIN contacts AS c "
                       "ON p.record_type = 'contact' AND c.id = p.record_id WHERE p.id > ? ORDER BY p.id", (last,))
        return db.execute("SELECT count(*) FROM bare.numbers WHERE organization_id = ?", (org_id,)).fetchone()[0]
    finally:
        db.execute("DETACH DATABASE bare")


def check_suffix_keys(db: sqlite3.Connection, org_id: int, n: int = 500) -> int:
    """The seeded rows agree with the service's own normalisation (E.164 and suffix key)."""
    from mobile_sync.phones import normalize_number

    bad = 0
    for e164, suffix in db.execute("SELECT e164, suffix FROM record_phones WHERE organization_id = ? "
                                   "ORDER BY random() LIMIT ?", (org_id, n)):
        number = normalize_number(e164, "IN")
        bad += number.e164 != e164 or number.suffix != suffix
    return bad


def make_lookups(db: sqlite3.Connection, org_id: int, count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """`count` distinct look-ups (kind, written number, E.164), as `caller_id_data.make_lookups`:
    50% hits written as E.164/international, 25% Indian hits written nationally, 25% misses."""
    import phonenumbers

    n_national, n_miss = count // 4, count // 4
    n_exact = count - n_national - n_miss
    sample = "SELECT DISTINCT e164 FROM (SELECT e164 FROM record_phones WHERE organization_id = ? {} " \
             "ORDER BY random() LIMIT ?)"
    exact = [r[0] for r in db.execute(sample.format(""), (org_id, int(n_exact * 1.2) + 10))]
    national = [r[0] for r in db.execute(sample.format("AND e164 LIKE '+91%'"), (org_id, int(n_national * 1.2) + 10))]
    taken = set(exact[:n_exact])
    national = [e for e in national if e not in taken]
    misses = []
    while len(misses) < n_miss * 1.5 + 10:
        e164 = random_number(rng)[0]
        if not db.execute("SELECT 1 FROM record_phones WHERE organization_id = ? AND e164 = ?",
                          (org_id, e164)).fetchone():
            misses.append(e164)
    out = []
    for kind, pool, n in (("hit", exact, n_exact), ("national", national, n_national), ("miss", misses, n_miss)):
        for e164 in pool[:n]:
            if phonenumbers.is_valid_number(phonenumbers.parse(e164, None)):
                national_form = kind == "national" or (kind == "miss" and rng.random() < 0.5)
                out.append((kind, written_forms(e164, national=national_form, rng=rng), e164))
    rng.shuffle(out)
    return out


def exact_probe_plan(path: Path, org_id: int) -> str:
    """How a new connection to the service's file plans the exact probe now."""
    with sqlite3.connect(path) as db:
        return "; ".join(row[3] for row in db.execute(EXACT_PROBE, (org_id, "+919876543210")))


# --------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="contacts' numbers (default %(default)s)")
    parser.add_argument("--samples", type=int, default=2500, help="pairs of requests per size (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up pairs per size")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds for the whole run (soft limit)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it (default: a temporary one)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(args.seed)
    run_started = time.monotonic()
    deadline = run_started + args.budget
    work = args.keep or Path(tempfile.mkdtemp(prefix="caller-id-embedded-"))
    (work / "service").mkdir(parents=True, exist_ok=True)
    (work / "bare").mkdir(parents=True, exist_ok=True)
    db_path, bare_path = work / "service" / "app.db", work / "bare" / "bare.db"
    env = service_env()
    with sqlite3.connect(bare_path) as bare_db:
        bare_db.execute("PRAGMA journal_mode=WAL")
        bare_db.executescript(BARE_SCHEMA)
    subprocess.run([str(VENV_BIN / "flask"), "--app", "server", "db", "upgrade"], cwd=ROOT, check=True,
                   env={**env, "DATA_DIR": str(work / "service")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs: list[Proc] = []
    results: dict = {"sizes": {}, "started": datetime.now(timezone.utc).isoformat(),
                     "load_average_start": os.getloadavg(), "sqlite": sqlite3.sqlite_version}
    db = None
    try:
        service_proc, service_port = start_gunicorn("service", "server:create_app()", work / "service", env)
        procs.append(service_proc)
        bare_proc, bare_port = start_gunicorn("bare", "benchmarks.caller_id_bare:create_app()",
                                              work / "bare", {**env, "BARE_DATABASE_URL": f"sqlite:///{bare_path}"})
        procs.append(bare_proc)
        client = Client(f"http://127.0.0.1:{service_port}", timeout=60, attempts=4)
        phone = sign_in(client, email=f"bench-embedded-{time.time_ns()}@example.test", password="benchmark password",
                        organization="Caller ID Embedded", region="IN", name="Rep")
        register_device(phone)
        give_consent(phone)
        org_id = phone.organization_id
        db = sqlite3.connect(db_path, timeout=60)
        with db:
            db.execute("UPDATE organizations SET plan = 'unlimited' WHERE id = ?", (org_id,))
        owner_id = db.execute("SELECT user_id FROM devices WHERE id = ?", (phone.device_id,)).fetchone()[0]
        service = KeepAlive(service_port, phone.device_token)
        bare = KeepAlive(bare_port, "unused")
        print(f"sizes {', '.join(map(fmt_size, sizes))}; up to {args.samples:,} pairs per size after "
              f"{args.warmup} warm-up pairs; gunicorn.conf.py ({os.environ.get('WEB_CONCURRENCY', '2')} workers x "
              f"{os.environ.get('WEB_THREADS', '4')} threads) for both; SQLite {sqlite3.sqlite_version}; {work}",
              flush=True)

        for index, size in enumerate(sizes):
            seeded = grow(db, org_id=org_id, owner_id=owner_id, rng=rng, target_rows=size)
            bad = check_suffix_keys(db, org_id)
            if bad > 5:  # ~1 in 10,000 generated numbers falls outside phonenumbers' allocated ranges
                raise SystemExit(f"{bad} of 500 seeded rows disagree with mobile_sync.phones.normalize_number")
            copied = copy_to_bare(db, bare_path, org_id)
            lookups = make_lookups(db, org_id, args.warmup + args.samples, rng)
            rows = db.execute("SELECT count(*) FROM record_phones WHERE organization_id = ?", (org_id,)).fetchone()[0]
            stats = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] and \
                db.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'record_phones'").fetchone()[0]
            plan = exact_probe_plan(db_path, org_id)
            print(f"\n{fmt_size(size)}: {rows:,} index rows (bare file {copied:,}), +{seeded['added']:,} in "
                  f"{seeded['seconds']:.1f}s (generate {seeded.get('generate_s', 0):.1f}s, insert "
                  f"{seeded.get('insert_s', 0):.1f}s); record_phones statistics rows: {stats or 0}\n"
                  f"  exact probe, new connection: {plan}", flush=True)
            share = (deadline - time.monotonic() - 120 * (len(sizes) - index - 1)) / max(1, len(sizes) - index)
            measured = alternate_lookups(service, bare, org_id, lookups, warmup=args.warmup,
                                         deadline=time.monotonic() + max(30.0, share))
            # The outcomes this benchmark reports (not the PostgreSQL one's misses by suffix and shared hits).
            measured["outcomes"] = {k: v for k, v in measured["outcomes"].items()
                                    if k not in ("miss_suffix", "shared")}
            measured.update(rows=rows, seed=seeded, plan=plan, load_average=os.getloadavg())
            results["sizes"][size] = measured
            c, b = measured["caller_id"], measured["bare"]
            print(f"  caller-id p50 {c['p50']:.2f}  p90 {c['p90']:.2f}  p99 {c['p99']:.2f} ms  (n={c['n']})\n"
                  f"  bare app  p50 {b['p50']:.2f}  p90 {b['p90']:.2f}  p99 {b['p99']:.2f} ms\n"
                  f"  p99 ratio {c['p99'] / b['p99']:.2f}x, p50 ratio {c['p50'] / b['p50']:.2f}x; outcomes "
                  f"{measured['outcomes']}; load average {measured['load_average'][0]:.2f}", flush=True)
    finally:
        if db is not None:
            db.close()
        for proc in procs:
            proc.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    first, last = sizes[0], sizes[-1]
    print(f"\n{'=' * 92}\nCaller ID on the embedded default (issue 16), {datetime.now(timezone.utc):%Y-%m-%d %H:%M} "
          f"UTC, {os.cpu_count()} CPUs, load average at start {results['load_average_start'][0]:.2f}")
    print(f"{'numbers':>8} | {'caller-id p50/p99 ms':>21} | {'bare app p50/p99 ms':>20} | {'p99 ratio':>9} | "
          f"{'p50 ratio':>9}")
    for size in sizes:
        c, b = results["sizes"][size]["caller_id"], results["sizes"][size]["bare"]
        print(f"{fmt_size(size):>8} | {c['p50']:9.2f} {c['p99']:9.2f}   | {b['p50']:9.2f} {b['p99']:9.2f}  | "
              f"{c['p99'] / b['p99']:8.2f}x | {c['p50'] / b['p50']:8.2f}x")
    checks = []
    at = 100_000 if 100_000 in results["sizes"] else last
    c, b = results["sizes"][at]["caller_id"], results["sizes"][at]["bare"]
    checks.append((f"p99(caller-id) <= {TARGET_VS_BARE}x p99(bare app) at {fmt_size(at)}",
                   c["p99"] / b["p99"] <= TARGET_VS_BARE, f"{c['p99'] / b['p99']:.2f}x"))
    growth = results["sizes"][last]["caller_id"]["p99"] / results["sizes"][first]["caller_id"]["p99"]
    bare_growth = results["sizes"][last]["bare"]["p99"] / results["sizes"][first]["bare"]["p99"]
    checks.append((f"growth: p99({fmt_size(last)}) <= {TARGET_GROWTH}x p99({fmt_size(first)})",
                   growth <= TARGET_GROWTH, f"{growth:.2f}x (the bare app's: {bare_growth:.2f}x; p50 "
                   f"{results['sizes'][last]['caller_id']['p50'] / results['sizes'][first]['caller_id']['p50']:.2f}x)"))
    return report_checks(checks, results, args.json, run_started)


if __name__ == "__main__":
    sys.exit(main())
