"""Call-log ingest end to end: 100,000 CallLog.Calls rows in 1,000-row batches
over HTTP to gunicorn, processed by a real RQ worker through Redis, stored in
PostgreSQL (the production topology of `tests/topology.py`, on loopback),
timed until every call is stored AND processed (`processed_at` set). Compared
in the same run with a naive baseline: the same rows, the same parsing and
normalisation, one ORM `session.add(Call(...)); session.commit()` per row.

    .venv/bin/python benchmarks/ingest.py [--rows 100000] [--clients 4] [--web-workers 2]
                                          [--rq-workers 1] [--baseline-rows N] [--profile DIR] [--sample DIR]

"Per core" divides the rows by the CPU seconds the service's own processes
used (gunicorn master and workers plus the RQ workers, read from /proc), so
it does not depend on how many cores the machine has or what else runs on it.
PostgreSQL's CPU is reported apart. Targets (issue 3): >= 35,000 rows/s per
core and >= 10x the baseline; the exit status is 1 when either is missed.

--profile DIR profiles in-process uploads (DIR/ingest.prof), then the queued
processing jobs in process (DIR/worker.prof), by CPU time, printing where it goes.
--sample DIR runs the timed benchmark with py-spy (if installed) sampling, while they hold the GIL, every
gunicorn and RQ process (DIR/<role>-<pid>.txt, collapsed stacks) and prints the
functions that take the most samples: the real processes, no profiler overhead.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.made_up_phone import make_call_log, make_people, make_phone_book  # noqa: E402
from scripts.simulate_phone import Client, give_consent, register_device, sign_in  # noqa: E402
from tests.seed_records import seed_records  # noqa: E402
from tests.processes import tree_cpu_seconds  # noqa: E402
from tests.topology import Topology  # noqa: E402

TARGET_PER_CORE = 35_000
TARGET_RATIO = 10.0
BATCH = 1000


def new_phone(topo: Topology, label: str):
    client = Client(topo.base_url, timeout=120, attempts=8)
    phone = sign_in(client, email=f"bench-{label}-{time.time_ns()}@example.test", password="benchmark password",
                    organization=f"Benchmark {label}", region="IN", name="Rep")
    register_device(phone)
    give_consent(phone)
    topo.execute("UPDATE organizations SET plan = 'unlimited' WHERE id = :o", {"o": phone.organization_id})
    return phone


def upload_all(phone, bodies: list[bytes], clients: int) -> tuple[float, dict]:
    """POST every body from `clients` threads (each batch retried with its own
    batch_id on errors, as the app does); return (seconds, totals)."""
    pending = list(bodies)
    lock = threading.Lock()
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "failed": 0}

    def run():
        client = Client(phone.client.base_url, timeout=120, attempts=8)
        while True:
            with lock:
                if not pending:
                    return
                body = pending.pop()
            try:
                _, result = client.request("POST", "/api/v1/sync/calls", raw=body, token=phone.device_token)
            except Exception as err:  # counted, reported
                with lock:
                    totals["failed"] += 1
                print(f"  batch failed: {err}", file=sys.stderr)
                continue
            with lock:
                totals["accepted"] += result["accepted"]
                totals["duplicates"] += result["duplicates"]
                totals["rejected"] += len(result["rejected"])

    started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, totals


def wait_processed(topo: Topology, org: int, uploads: int, timeout: float) -> float:
    """Until every upload of the organisation is processed; return the time.

    Polls the outbox (`sync_uploads`, one row per batch), not the calls table,
    so the measuring does not load PostgreSQL; the calls are checked once at
    the end."""
    deadline = time.monotonic() + timeout
    swept = False
    while time.monotonic() < deadline:
        done, pending = topo.sql("SELECT count(processed_at), count(*) - count(processed_at) FROM sync_uploads "
                                 "WHERE organization_id = :o AND kind = 'calls'", o=org)[0]
        if done >= uploads:
            return time.perf_counter()
        if pending and not swept and topo.queued_jobs() == 0 and topo.started_jobs() == 0:
            # Jobs that could not be queued (none expected): what the scheduler's sweep does.
            time.sleep(2)
            if topo.queued_jobs() == 0 and topo.started_jobs() == 0:
                topo.sweep_outbox(min_age=0)
                swept = True
        time.sleep(0.02)
    raise SystemExit(f"not every upload was processed within {timeout:.0f}s\n{topo.logs()}")


def naive_baseline(database_url: str, organization_id: int, device_id: int, user_id: int, rows: list[dict]) -> dict:
    """The same rows, parsed and normalised the same way, stored one ORM
    object and one commit at a time (no matching: the naive path does less)."""
    from datetime import datetime, timezone

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from mobile_sync.call_rows import read_call_row
    from mobile_sync.phones import clear_caches, normalize_number, region_for
    from mobile_sync.store.models import Call, Organization, User

    clear_caches()
    engine = create_engine(database_url)
    with Session(engine) as session:
        org_region = session.execute(select(Organization.region).where(Organization.id == organization_id)).scalar()
        user_region = session.execute(select(User.region).where(User.id == user_id)).scalar()
        fallback = region_for(user_region, org_region)
        cpu0, started = time.process_time(), time.perf_counter()
        for raw in rows:
            row, _ = read_call_row(raw)
            region = region_for(row["countryiso"], fallback) or fallback
            number = normalize_number(row["raw_number"], region, row["presentation"])
            via = normalize_number(row["via_number"], region) if row["via_number"] else None
            session.add(Call(
                organization_id=organization_id, device_id=device_id, user_id=user_id, **row,
                started_at=datetime.fromtimestamp(row["date_ms"] / 1000, tz=timezone.utc),
                e164=number.e164, number_status=number.status, extension=number.extension,
                via_e164=via.e164 if via else None, created_at=datetime.now(timezone.utc)))
            session.commit()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
        stored = session.execute(select(Call.id).where(Call.device_id == device_id)).all()
    engine.dispose()
    assert len(stored) == len(rows)
    return {"seconds": seconds, "cpu": cpu, "rows": len(rows)}


def start_sampling(topo: Topology, out: Path) -> list[subprocess.Popen]:
    """py-spy on each gunicorn worker and RQ worker, until stop_sampling()."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("--sample needs py-spy (pip install py-spy)")
    out.mkdir(parents=True, exist_ok=True)
    web = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _parent(int(pid)) == topo.web.pid]
    targets = [("web", pid) for pid in web] + [("rq", w.pid) for w in topo.workers if w.alive()]
    return [subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--gil", "--nonblocking",
                              "-o", str(out / f"{role}-{pid}.txt")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for role, pid in targets]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def stop_sampling(samplers: list[subprocess.Popen], out: Path, top: int = 25) -> None:
    """Stop py-spy (it writes its file on SIGINT) and print, per role, the
    share of samples in each of our functions (inclusive) and the leaves."""
    import collections
    import signal

    for proc in samplers:
        proc.send_signal(signal.SIGINT)
    for proc in samplers:
        proc.wait(timeout=60)
    for role in ("web", "rq"):
        inclusive, leaves, total = collections.Counter(), collections.Counter(), 0
        for path in out.glob(f"{role}-*.txt"):
            for line in path.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                frames, count = stack.split(";"), int(count)
                total += count
                leaves[frames[-1]] += count
                for frame in set(frames):
                    if "/work/" in frame or "mobile_sync/" in frame or "server/" in frame:
                        inclusive[frame] += count
        if not total:
            continue
        print(f"\n{role}: {total:,} samples; our functions (inclusive):")
        for frame, count in inclusive.most_common(top):
            print(f"  {count / total:6.1%}  {frame[:120]}")
        print(f"{role}: leaves (self):")
        for frame, count in leaves.most_common(12):
            print(f"  {count / total:6.1%}  {frame[:120]}")


def profile_run(topo: Topology, phone, bodies: list[bytes], out: Path, rows: int) -> None:
    """Where the CPU goes: in-process uploads under cProfile, then the queued
    processing jobs (no worker is running) run in process under cProfile (both timed by CPU time, so
    waiting for PostgreSQL does not count, as in the per-core figure)."""
    import cProfile
    import pstats

    out.mkdir(parents=True, exist_ok=True)
    os.environ.update({k: v for k, v in topo.env("profile").items() if k in
                       ("DATABASE_URL", "REDIS_URL", "DATA_DIR", "SECRET_KEY", "APP_ENV", "LOG_LEVEL")})
    from server import create_app
    from server.extensions import db
    from server.jobs import process_call_upload
    from mobile_sync.store.models import SyncUpload

    app = create_app()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {phone.device_token}", "Content-Type": "application/json"}
    with app.app_context():
        already = set(db.session.execute(db.select(SyncUpload.id)).scalars())
    client.post("/api/v1/sync/calls", headers=headers, data=bodies[0])  # warm up
    profiler = cProfile.Profile(time.process_time)
    cpu0 = time.process_time()
    profiler.enable()
    for body in bodies[1:]:
        response = client.post("/api/v1/sync/calls", headers=headers, data=body)
        assert response.status_code == 200, response.json
    profiler.disable()
    ingest_cpu = time.process_time() - cpu0
    profiler.dump_stats(out / "ingest.prof")
    stored = (len(bodies) - 1) * BATCH
    print(f"\ningest, in process: {stored:,} rows, {ingest_cpu:.2f} CPU s ({stored / ingest_cpu:,.0f} rows/s per "
          f"core, profiler on)")
    pstats.Stats(str(out / "ingest.prof")).sort_stats("tottime").print_stats(30)
    with app.app_context():
        pending = [i for i in db.session.execute(
            db.select(SyncUpload.id).where(SyncUpload.processed_at.is_(None)).order_by(SyncUpload.id)).scalars()
            if i not in already]
        db.session.remove()
        profiler = cProfile.Profile(time.process_time)
        cpu0 = time.process_time()
        profiler.enable()
        for upload_id in pending:
            process_call_upload(upload_id)
            db.session.remove()
        profiler.disable()
    process_cpu = time.process_time() - cpu0
    profiler.dump_stats(out / "worker.prof")
    print(f"\nprocessing, in process: {len(pending)} uploads, {process_cpu:.2f} CPU s "
          f"({len(pending) * BATCH / process_cpu:,.0f} rows/s per core, profiler on)")
    pstats.Stats(str(out / "worker.prof")).sort_stats("cumulative").print_stats(r"mobile_sync|server/", 30)
    pstats.Stats(str(out / "worker.prof")).sort_stats("tottime").print_stats(30)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="call rows to upload (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent upload threads")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument("--rq-workers", type=int, default=1, help="RQ worker processes")
    parser.add_argument("--people", type=int, default=5000, help="distinct numbers in the call log")
    parser.add_argument("--contact-share", type=float, default=0.2, help="share of people who are CRM contacts")
    parser.add_argument("--no-auto-leads", action="store_true",
                        help="turn the organisation's auto-lead rules off (store + match only)")
    parser.add_argument("--baseline-rows", type=int, help="rows for the naive baseline (default: --rows)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for processing")
    parser.add_argument("--no-fsync", action="store_true",
                        help="run PostgreSQL without fsync, as the test suite does (default: its durable defaults, "
                             "as in production, where a commit waits for the disk)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="profile instead of timing (see above)")
    parser.add_argument("--sample", type=Path, metavar="DIR", help="sample the timed run with py-spy (see above)")
    args = parser.parse_args(argv)
    rows_n = args.rows - args.rows % BATCH or BATCH
    baseline_n = min(args.baseline_rows or rows_n, rows_n)

    people = make_people(args.people, seed=5)
    rows = make_call_log(rows_n, people, seed=5)
    bodies = [json.dumps({"batch_id": f"bench-{i}", "calls": rows[i:i + BATCH]}).encode()
              for i in range(0, rows_n, BATCH)]
    print(f"{rows_n:,} call rows in {len(bodies)} batches, {args.people:,} distinct people, "
          f"{args.contact_share:.0%} of them CRM contacts, 5% leads; PostgreSQL "
          + ("without fsync (as the tests)" if args.no_fsync else "with fsync and synchronous commit (as in production)"))
    try:
        topo = Topology(web_workers=args.web_workers, web_threads=args.web_threads,
                        rq_workers=0 if args.profile else args.rq_workers, log_level="WARNING",
                        statement_stats=True, durable_postgres=not args.no_fsync)
        topo.__enter__()
    except BaseException as err:  # tests.servers skips (raises) when a server is missing
        print(f"cannot start the topology: {err}", file=sys.stderr)
        return 2
    try:
        phone = new_phone(topo, "http")
        org = phone.organization_id
        # Every k-th person, so CRM records are spread over busy and rare callers alike.
        step = max(1, round(1 / args.contact_share)) if args.contact_share > 0 else len(people) + 1
        seed_records(topo.engine(), org, people[0::step], "contact")
        seed_records(topo.engine(), org, [p for i, p in enumerate(people) if i % step and i % 20 == 1], "lead")
        book = make_phone_book(people, seed=5)
        for i in range(0, len(book), BATCH):
            phone.client.request("POST", "/api/v1/sync/contacts", {"batch_id": f"book-{i}",
                                                                   "contacts": book[i:i + BATCH]},
                                 token=phone.device_token)
        if args.no_auto_leads:
            topo.execute("UPDATE organizations SET settings = :s WHERE id = :o",
                         {"s": json.dumps({"auto_leads": {"enabled": False}}), "o": org})
        if args.profile:
            profile_run(topo, phone, bodies, args.profile, rows_n)
            return 0

        pg_pid = topo.postgres.proc.pid
        topo.reset_statement_stats()
        web0, work0, pg0 = topo.web_cpu_seconds(), topo.worker_cpu_seconds(), tree_cpu_seconds(pg_pid)
        samplers = start_sampling(topo, args.sample) if args.sample else []
        started = time.perf_counter()
        upload_s, totals = upload_all(phone, bodies, args.clients)
        web1 = topo.web_cpu_seconds()
        finished = wait_processed(topo, org, len(bodies), args.timeout)
        web2, work2, pg2 = topo.web_cpu_seconds(), topo.worker_cpu_seconds(), tree_cpu_seconds(pg_pid)
        if samplers:
            stop_sampling(samplers, args.sample)
        total_s = finished - started
        stored, processed = topo.sql("SELECT count(*), count(processed_at) FROM calls WHERE organization_id = :o",
                                     o=org)[0]
        outcomes = dict(topo.sql("SELECT outcome, count(*) FROM calls WHERE organization_id = :o GROUP BY 1",
                                 o=org))
        assert stored == processed == rows_n == totals["accepted"], (stored, processed, totals)
        web_cpu, worker_cpu, pg_cpu = web2 - web0, work2 - work0, pg2 - pg0
        statements = topo.statement_stats(12)
        rate = rows_n / total_s
        per_core = rows_n / (web_cpu + worker_cpu)

        print("\nbaseline (naive ORM, one commit per row) ...", flush=True)
        base_phone = new_phone(topo, "baseline")
        baseline = naive_baseline(topo.database_url, base_phone.organization_id, base_phone.device_id,
                                  topo.scalar("SELECT user_id FROM devices WHERE id = :d", d=base_phone.device_id),
                                  rows[:baseline_n])
    finally:
        topo.close()

    base_rate = baseline["rows"] / baseline["seconds"]
    base_per_core = baseline["rows"] / baseline["cpu"]
    matched = sum(v for k, v in outcomes.items() if k and k.startswith("matched_"))
    print(f"""
stored + processed: {rows_n:,} rows ({matched:,} matched to CRM records, {outcomes.get('lead_created', 0):,} leads
  created, {outcomes.get('attached_to_lead', 0):,} attached to them) over HTTP with {args.clients} clients,
  {args.web_workers} gunicorn workers x {args.web_threads} threads, {args.rq_workers} RQ worker(s)
  uploads answered in   {upload_s:8.2f} s   ({rows_n / upload_s:10,.0f} rows/s stored)
  all processed after   {total_s:8.2f} s   ({rate:10,.0f} rows/s overall)
  CPU: gunicorn {web_cpu:.2f} s (of which after the last upload {web2 - web1:.2f} s), RQ workers {worker_cpu:.2f} s,
       PostgreSQL {pg_cpu:.2f} s (not counted below)
  per core (gunicorn + RQ CPU):       {per_core:10,.0f} rows/s   target {TARGET_PER_CORE:,}
  per RQ-worker core (processing):    {rows_n / worker_cpu if worker_cpu else float('inf'):10,.0f} rows/s
  per gunicorn core (storing):        {rows_n / web_cpu if web_cpu else float('inf'):10,.0f} rows/s
baseline: {baseline['rows']:,} rows in {baseline['seconds']:.2f} s ({base_rate:,.0f} rows/s; per core
  {base_per_core:,.0f} rows/s of the benchmark process's CPU, PostgreSQL not counted)
ratio: {rate / base_rate:.1f}x the baseline (wall clock), {per_core / base_per_core:.1f}x per core""")
    if statements:
        print("PostgreSQL time by statement (upload + processing):")
        for calls, total_ms, returned, query in statements:
            print(f"  {total_ms / 1000:7.2f} s {calls:8,} calls  {' '.join(query.split())[:110]}")
    ok = per_core >= TARGET_PER_CORE and rate / base_rate >= TARGET_RATIO
    print("targets met" if ok else "target missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
