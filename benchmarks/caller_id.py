"""Caller ID end to end on the production topology, against fixed references
measured alternately in the same run: look-ups at 10k, 100k and 1M numbers in
the phone index, and ringing -> push at a fake FCM.

The production topology of `tests/topology.py` on loopback (PostgreSQL with its
durable defaults unless --no-fsync, Redis, gunicorn with 2 workers x 4
threads, 1 RQ worker), the real firebase-admin client talking to
`tests.fake_fcm.FakeFcm` on 127.0.0.1. One organisation (region IN) signs up
over HTTP, registers a phone (with an FCM token) and consents; its CRM contacts
and their rows in the phone index (`record_phones`) are then written with COPY:
Indian, UK and US numbers in E.164 with their suffix keys (last 7 digits of the
national significant number), 2% of the rows on shared switchboard numbers.
The index grows 10k -> 100k -> 1M rows, with VACUUM ANALYZE after each step.

The references import nothing from the project and run under the same
gunicorn settings (gunicorn.conf.py, the same workers and threads):
  `benchmarks/caller_id_bare.py`  one indexed SELECT of the number from a table
                                  of the same numbers, names and companies, in a
                                  schema (`bare`) of the same PostgreSQL
  `benchmarks/ringing_bare.py`    on the same ringing request, the same push sent
                                  with firebase-admin to the same fake FCM

At each size, over one keep-alive connection to each, request by request,
alternating which goes first:
  GET /api/v1/caller-id?number=...  (the device token) hits written as E.164 or
                                    "+91 98765 43210", hits written nationally
                                    ("098765 43210", "9876543210"), and misses
  GET /caller-id?org=..&number=E164 the bare app, the same number
then each app alone for a few hundred requests gives the CPU per request of
its gunicorn, PostgreSQL and Redis (from /proc), and, inside PostgreSQL alone
(EXPLAIN ANALYZE execution time), the exact index probe against the naive
`e164 LIKE '%<last 7 digits>'` scan of the organisation's index.

Then, at the largest size: POST /api/v1/calls/ringing (hits and misses, a new
number each time) and the bare app's POST /calls/ringing with the same number,
alternated, ~25 ms apart, each timed from sending the request to the fake FCM
receiving the push (matched by `push_id`), and the CPU per ring of each app's
gunicorn. The service's push is sent by the web process's dispatcher
(`server/push_dispatch.py`); the RQ worker runs, as in production, as its
fallback (its CPU per ring shows whether it was used). The bare app sends
before it answers.

    .venv/bin/python -m benchmarks.caller_id [--quick] [--samples N] [--sizes 10000,100000,1000000]
                                             [--rings N] [--budget S] [--json FILE]
                                             [--profile DIR] [--py-spy PATH]

Targets (issue 16): p99(caller-id) <= 2x p99(bare app) at every size; p99 from
the smallest to the largest size (10k -> 1M) <= 1.2x; ringing -> FCM p99 <= 2x
the bare app's. The LIKE scan is reported inside the database only: through
HTTP both requests pay the request itself. The exit status is 1 when a target
is missed.

--py-spy PATH (pip install py-spy; root or ptrace rights): after the timings,
sample gunicorn's workers (py-spy --gil) while each endpoint runs alone, then
while rings run, and print the time holding the GIL
per request by library and by application function.
--profile DIR: then run the same requests in this process (Flask test client
on the same PostgreSQL and Redis) under cProfile, and print the SQL statements
(with SQLAlchemy's compiled-cache hits) and Redis round trips per request
(DIR/caller_id.prof, DIR/ping.prof, DIR/*.pyspy.txt).

Where the parts live: `caller_id_data.py` the generated numbers and the
seeding, `caller_id_latency.py` the timed requests and CPU per request at one
size, `caller_id_ringing.py` the rings and the fake FCM that signals them,
`caller_id_profile.py` --profile and --py-spy; this file the references'
servers, the targets, the options and the report.

Numbers on a shared machine are noisy: run it more than once.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.caller_id_bare import SCHEMA as BARE_SCHEMA  # noqa: E402
from benchmarks.caller_id_data import check_suffix_keys, grow, make_lookups, pg_connect  # noqa: E402
from benchmarks.caller_id_latency import KeepAlive, measure_cpu, measure_size, report_checks  # noqa: E402
from benchmarks.caller_id_profile import profile_lookups, spy_profile  # noqa: E402
from benchmarks.caller_id_ringing import SignallingFcm, measure_ringing  # noqa: E402
from scripts.simulate_phone import Client, give_consent, register_device, sign_in  # noqa: E402
from tests.processes import Proc  # noqa: E402
from tests.servers import free_port, wait_for_port  # noqa: E402
from tests.topology import Topology  # noqa: E402

TARGET_VS_BARE = 2.0
TARGET_GROWTH = 1.2
TARGET_RING_VS_BARE = 2.0
PROJECT = "bench-project"
# Variables of the service the references must not see (they read none, but gunicorn.conf.py's hooks might).
SERVICE_ONLY = ("DATABASE_URL", "REDIS_URL", "APP_ENV", "FCM_CREDENTIALS", "FCM_PROJECT_ID", "FCM_URL",
                "PROMETHEUS_MULTIPROC_DIR", "METRICS_TOKEN", "SECRET_KEY")


# --------------------------------------------------------------------------------------------
def fmt_size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))


# --------------------------------------------------------------------------------------------
# The references
# --------------------------------------------------------------------------------------------
def start_reference(topo: Topology, name: str, app: str, env: dict) -> tuple[Proc, int]:
    """A bare app under gunicorn exactly as the topology starts the service's
    (gunicorn.conf.py, the same workers, threads and graceful timeout)."""
    port = free_port()
    work = topo.dir / name
    work.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k not in SERVICE_ONLY}
    base.update({"PYTHONPATH": str(ROOT), "DATA_DIR": str(work), "LOG_LEVEL": topo.log_level,
                 "WEB_CONCURRENCY": str(topo.web_workers), "WEB_THREADS": str(topo.web_threads),
                 "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    args = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
            "--workers", str(topo.web_workers), "--threads", str(topo.web_threads), "--graceful-timeout", "5",
            "--control-socket", str(work / "gunicorn.ctl"), app]
    proc = Proc(name, args, {**base, **env}, work / f"{name}.log")
    proc.start()
    try:
        wait_for_port(port, timeout=60)
    except RuntimeError:
        print(proc.tail(), file=sys.stderr)
        proc.stop()
        raise
    return proc, port


def bare_database_url(topo: Topology) -> str:
    """The service's database, with the bare table's schema first on the search path."""
    url = topo.postgres.url.replace("postgresql+psycopg://", "postgresql://")
    return f"{url}?application_name=bare&options=-csearch_path%3Dbare"


def create_bare_table(pg) -> None:
    pg.execute("CREATE SCHEMA IF NOT EXISTS bare")
    pg.execute("SET search_path = bare")
    try:
        pg.execute(BARE_SCHEMA)
    finally:
        pg.execute("SET search_path = DEFAULT")


def copy_to_bare(pg, org_id: int, after_id: int) -> tuple[int, int]:
    """The bare table: the same numbers, names and companies (the index rows
    added since `after_id`); VACUUM ANALYZE as the service's tables get.
    Returns (the last index row copied, the bare table's rows)."""
    last = pg.execute("SELECT coalesce(max(id), 0) FROM record_phones").fetchone()[0]
    with pg.transaction():
        pg.execute("INSERT INTO bare.numbers (organization_id, e164, record_type, record_id, name, company) "
                   "SELECT p.organization_id, p.e164, p.record_type, p.record_id, c.name, c.company "
                   "FROM record_phones AS p LEFT JOIN contacts AS c "
                   "ON p.record_type = 'contact' AND c.id = p.record_id "
                   "WHERE p.id > %s AND p.id <= %s ORDER BY p.id", (after_id, last))
    pg.execute("VACUUM (ANALYZE) bare.numbers")
    rows = pg.execute("SELECT count(*) FROM bare.numbers WHERE organization_id = %s", (org_id,)).fetchone()[0]
    return last, rows


def push_shape(body: dict) -> tuple:
    """What a push carries: its fields, its data's keys and fixed values, its
    Android settings (without the values that differ by design: ids, collapse key)."""
    message = (body or {}).get("message") or {}
    data = message.get("data") or {}
    android = dict(message.get("android") or {})
    android.pop("collapse_key", None)
    if "notification" in android:
        android["notification"] = {k: v for k, v in android["notification"].items() if k != "tag"}
    return (tuple(sorted(message)), tuple(sorted((k, v if k != "push_id" else len(v)) for k, v in data.items())),
            tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in android.items())))


# --------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k and 100k only, fewer samples and rings")
    parser.add_argument("--sizes", help="comma-separated index sizes (default 10000,100000,1000000)")
    parser.add_argument("--samples", type=int, help="pairs of look-ups per size (default 2500; quick 1000)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up pairs per size")
    parser.add_argument("--like-samples", type=int, default=5,
                        help="LIKE scans timed inside PostgreSQL per size (default %(default)s)")
    parser.add_argument("--rings", type=int, default=400, help="pairs of rings timed (default %(default)s)")
    parser.add_argument("--ring-gap-ms", type=float, default=25.0, help="mean pause after each ring")
    parser.add_argument("--cpu-requests", type=int, default=300,
                        help="requests per app for the CPU-per-request figures (default %(default)s)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--budget", type=float, default=600.0, help="seconds for the whole run (soft limit)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--profile", type=Path, metavar="DIR", help="then profile in process (see above)")
    parser.add_argument("--profile-requests", type=int, default=1000)
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy binary: sample gunicorn's CPU per endpoint at "
                        "the largest size (pip install py-spy)")
    parser.add_argument("--py-spy-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--no-fsync", action="store_true",
                        help="run PostgreSQL without fsync, as the test suite does (default: its durable defaults, "
                             "as in production)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    samples = args.samples or (1000 if args.quick else 2500)
    rings = args.rings if not args.quick else min(args.rings, 200)
    run_started = time.monotonic()
    deadline = run_started + args.budget
    rng = random.Random(args.seed)

    fcm = SignallingFcm(PROJECT)
    env = {"FCM_CREDENTIALS": "token:bench", "FCM_PROJECT_ID": PROJECT, "FCM_URL": fcm.url}
    print(f"sizes {', '.join(map(fmt_size, sizes))}; up to {samples:,} pairs (caller-id, bare app) per size after "
          f"{args.warmup} warm-up pairs; {rings} pairs of rings; gunicorn {args.web_workers} workers x "
          f"{args.web_threads} threads for the service and each bare app, 1 RQ worker; fake FCM on "
          f"127.0.0.1:{fcm.port}; load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        topo = Topology(web_workers=args.web_workers, web_threads=args.web_threads, rq_workers=1, env=env,
                        durable_postgres=not args.no_fsync)
        topo.__enter__()
    except BaseException as err:  # tests.servers skips (raises) when a server is missing
        fcm.close()
        print(f"cannot start the topology: {err}", file=sys.stderr)
        return 2
    results: dict = {"sizes": {}, "started": datetime.now(timezone.utc).isoformat(),
                     "load_average_start": os.getloadavg()}
    pg = None
    references: list[Proc] = []
    try:
        client = Client(topo.base_url, timeout=60, attempts=4)
        phone = sign_in(client, email=f"bench-callerid-{time.time_ns()}@example.test",
                        password="benchmark password", organization="Caller ID Benchmark", region="IN", name="Rep")
        register_device(phone)
        give_consent(phone)
        org_id = phone.organization_id
        topo.execute("UPDATE organizations SET plan = 'unlimited' WHERE id = :o", {"o": org_id})
        owner_id = topo.scalar("SELECT user_id FROM devices WHERE id = :d", d=phone.device_id)
        fcm_token = topo.scalar("SELECT fcm_token FROM devices WHERE id = :d", d=phone.device_id)
        assert fcm_token
        pg = pg_connect(topo)
        create_bare_table(pg)
        bare_proc, bare_port = start_reference(topo, "bare-caller-id", "benchmarks.caller_id_bare:create_app()",
                                               {"BARE_DATABASE_URL": bare_database_url(topo)})
        references.append(bare_proc)
        http, bare = KeepAlive(topo.port, phone.device_token), KeepAlive(bare_port, "unused")
        print(f"topology and bare app up in {time.monotonic() - run_started:.1f}s; organisation {org_id}, device "
              f"{phone.device_id}", flush=True)

        copied_to = 0
        for index, size in enumerate(sizes):
            seeded = grow(pg, org_id=org_id, owner_id=owner_id, rng=rng, target_rows=size)
            bad = check_suffix_keys(pg, org_id)
            # A few generated numbers fall in ranges phonenumbers' metadata does not
            # allocate (e.g. UK +44 7911 ...): about 1 in 10,000, never looked up.
            if bad > 5:
                raise SystemExit(f"{bad} of 500 seeded rows disagree with mobile_sync.phones.normalize_number")
            copy_started = time.perf_counter()
            copied_to, bare_rows = copy_to_bare(pg, org_id, copied_to)
            copy_s = time.perf_counter() - copy_started
            lookups = make_lookups(pg, org_id, args.warmup + samples, rng)
            rows = pg.execute("SELECT count(*), count(DISTINCT e164) FROM record_phones WHERE organization_id = %s",
                              (org_id,)).fetchone()
            print(f"\n{fmt_size(size)}: {rows[0]:,} index rows ({rows[1]:,} distinct numbers; bare table "
                  f"{bare_rows:,}), +{seeded['added']:,} in {seeded['seconds']:.1f}s (generate "
                  f"{seeded.get('generate_s', 0):.1f}s, COPY {seeded.get('copy_s', 0):.1f}s, VACUUM ANALYZE "
                  f"{seeded.get('analyze_s', 0):.1f}s; bare table {copy_s:.1f}s); "
                  f"{len(lookups) - args.warmup:,} look-ups", flush=True)
            # Leave time for the later sizes (seeding ~150 s per million rows on a busy 2-core machine) and the rings.
            reserve = 60 + (sizes[-1] - size) * 1.5e-4
            share = (deadline - time.monotonic() - reserve) / max(1, len(sizes) - index)
            measured = measure_size(http, bare, pg, org_id, lookups, warmup=args.warmup,
                                    like_samples=args.like_samples, deadline=time.monotonic() + max(30.0, share))
            measured["cpu_ms"] = measure_cpu(topo, http, bare, bare_proc.pid, org_id, lookups, args.cpu_requests)
            measured.update(rows=rows[0], seed=seeded, load_average=os.getloadavg())
            results["sizes"][size] = measured
            c, b = measured["caller_id"], measured["bare"]
            probe, like = measured["pg_index_probe"], measured["pg_like"]
            print(f"  caller-id p50 {c['p50']:.2f}  p90 {c['p90']:.2f}  p99 {c['p99']:.2f} ms  (n={c['n']})\n"
                  f"  bare app  p50 {b['p50']:.2f}  p90 {b['p90']:.2f}  p99 {b['p99']:.2f} ms\n"
                  f"  p99 ratio {c['p99'] / b['p99']:.2f}x, p50 ratio {c['p50'] / b['p50']:.2f}x\n"
                  f"  inside PostgreSQL (EXPLAIN ANALYZE): index probe p50 {probe['p50']:.3f} ms, LIKE scan p50 "
                  f"{like['p50']:.2f} ms (n={like['n']}): {like['p50'] / probe['p50']:,.0f}x\n"
                  f"  outcomes {measured['outcomes']}; load average {measured['load_average'][0]:.2f}", flush=True)
            for name, cpu in measured["cpu_ms"].items():
                print(f"  CPU per {name:9s} request: gunicorn {cpu['gunicorn']:.2f}, PostgreSQL {cpu['postgres']:.2f}, "
                      f"Redis {cpu['redis']:.2f} ms", flush=True)
            if c["n"] < 2000:
                print(f"  note: p99 of {c['n']} pairs (under 2,000) is less stable", flush=True)
        http.close()
        bare.close()
        bare_proc.stop()  # the machine as quiet as it can be for the rings

        ring_proc, ring_port = start_reference(topo, "bare-ringing", "benchmarks.ringing_bare:create_app()",
                                               {"BARE_FCM_URL": fcm.url, "BARE_FCM_PROJECT": PROJECT,
                                                "BARE_FCM_TOKEN": fcm_token})
        references.append(ring_proc)
        print(f"\nringing at {fmt_size(sizes[-1])}: {rings} pairs of rings (service, bare app; +20 warm-up pairs), "
              f"~{args.ring_gap_ms:.0f} ms after each", flush=True)
        ring_numbers = [number for _, number, _ in make_lookups(pg, org_id, rings + 20, rng)]
        fcm.reset()
        ringing = measure_ringing(topo, phone.device_token, ring_port, ring_proc.pid, fcm, ring_numbers, warmup=20,
                                  gap_s=args.ring_gap_ms / 1000, deadline=deadline + 60)
        ring_proc.stop()
        statuses = dict(topo.sql("SELECT status, count(*) FROM push_messages WHERE organization_id = :o "
                                 "AND kind = 'ringing' GROUP BY 1", o=org_id))
        ringing["push_statuses"] = statuses
        ringing["load_average"] = os.getloadavg()
        shapes = {push_shape(request["body"]) for request in fcm.requests}
        ringing["push_shapes"] = [list(shape) for shape in shapes]
        results["ringing"] = ringing
        for name in ("service", "bare"):
            r, a = ringing[name]["to_fcm"], ringing[name]["accepted"]
            print(f"  {name:7s} ring -> FCM p50 {r['p50']:.2f}  p90 {r['p90']:.2f}  p99 {r['p99']:.2f}  max "
                  f"{r['max']:.2f} ms (n={r['n']}, lost {ringing[name]['lost']}); 202 p50 {a['p50']:.2f}  p99 "
                  f"{a['p99']:.2f} ms", flush=True)
        print(f"  push_messages {statuses}; pushes at the fake FCM of {len(shapes)} shape(s) (1: the bare app's "
              f"push carries the service's fields); load average {ringing['load_average'][0]:.2f}", flush=True)
        if ringing["cpu_ms"]:
            cpu = ringing["cpu_ms"]
            print(f"  CPU per ring: service gunicorn {cpu['gunicorn']:.2f} (+ RQ worker {cpu['worker']:.2f}, "
                  f"PostgreSQL {cpu['postgres']:.2f}, Redis {cpu['redis']:.2f}) vs bare app gunicorn "
                  f"{cpu['bare_gunicorn']:.2f} ms", flush=True)

        if args.py_spy:
            print(f"\npy-spy at {fmt_size(sizes[-1])}:", flush=True)
            results["py_spy"] = spy_profile(topo, phone.device_token, lookups, fcm, args.py_spy,
                                            args.profile or Path(tempfile.mkdtemp(prefix="caller-id-profile-")),
                                            args.py_spy_seconds)
        if args.profile:
            profile_lookups(topo, phone.device_token, lookups, args.profile, args.profile_requests)
    finally:
        for proc in references:
            proc.stop()
        if pg is not None:
            pg.close()
        topo.close()
        fcm.close()

    # ---- summary ---------------------------------------------------------------------------
    first, last = sizes[0], sizes[-1]
    print(f"\n{'=' * 100}\nCaller ID on the production topology (issue 16), "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average at start "
          f"{results['load_average_start'][0]:.2f}, at the end {os.getloadavg()[0]:.2f}")
    print(f"{'numbers':>8} | {'caller-id p50/p99 ms':>20} | {'bare app p50/p99 ms':>19} | {'p99 ratio':>9} | "
          f"{'p50 ratio':>9} | {'CPU/request gunicorn+PG ms':>26} | {'in PG: probe / LIKE p50 ms':>27}")
    ratios = {}
    for size in sizes:
        m = results["sizes"][size]
        c, b, cpu = m["caller_id"], m["bare"], m["cpu_ms"]
        ratios[size] = m["p99_ratio"] = c["p99"] / b["p99"]
        cpu_ours, cpu_bare = (cpu[k]["gunicorn"] + cpu[k]["postgres"] + cpu[k]["redis"] for k in ("caller_id", "bare"))
        print(f"{fmt_size(size):>8} | {c['p50']:9.2f} {c['p99']:9.2f}  | {b['p50']:9.2f} {b['p99']:8.2f}  | "
              f"{ratios[size]:8.2f}x | {c['p50'] / b['p50']:8.2f}x | {cpu_ours:10.2f} vs {cpu_bare:5.2f}      | "
              f"{m['pg_index_probe']['p50']:9.3f} / {m['pg_like']['p50']:9.2f}")
    growth = results["sizes"][last]["caller_id"]["p99"] / results["sizes"][first]["caller_id"]["p99"]
    bare_growth = results["sizes"][last]["bare"]["p99"] / results["sizes"][first]["bare"]["p99"]
    m = results["sizes"][last]
    print(f"LIKE, inside PostgreSQL at {fmt_size(last)} (EXPLAIN ANALYZE execution time): index probe p50 "
          f"{m['pg_index_probe']['p50']:.3f} ms, LIKE scan p50 {m['pg_like']['p50']:.2f} ms: "
          f"{m['pg_like']['p50'] / m['pg_index_probe']['p50']:,.0f}x")
    r = results["ringing"]
    rs, rb = r["service"]["to_fcm"], r["bare"]["to_fcm"]
    ring_ratio = rs["p99"] / rb["p99"]
    print(f"ringing -> fake FCM: service p50 {rs['p50']:.2f}  p99 {rs['p99']:.2f} ms; bare app p50 {rb['p50']:.2f}  "
          f"p99 {rb['p99']:.2f} ms (n={rs['n']} each)")
    if r["cpu_ms"]:
        cpu = r["cpu_ms"]
        print(f"CPU per ring: gunicorn {cpu['gunicorn']:.2f} ms (service) vs {cpu['bare_gunicorn']:.2f} ms (bare app); "
              f"the service also RQ worker {cpu['worker']:.2f}, PostgreSQL {cpu['postgres']:.2f}, Redis "
              f"{cpu['redis']:.2f} ms")
    checks = [
        (f"p99(caller-id) <= {TARGET_VS_BARE}x p99(bare app) at every size",
         all(v <= TARGET_VS_BARE for v in ratios.values()),
         ", ".join(f"{fmt_size(k)} {v:.2f}x" for k, v in ratios.items())),
        (f"growth: p99({fmt_size(last)}) <= {TARGET_GROWTH}x p99({fmt_size(first)})", growth <= TARGET_GROWTH,
         f"{growth:.2f}x (the bare app's: {bare_growth:.2f}x)"),
        (f"ringing -> FCM p99 <= {TARGET_RING_VS_BARE}x the bare app's, none lost",
         ring_ratio <= TARGET_RING_VS_BARE and not r["service"]["lost"], f"{ring_ratio:.2f}x"),
    ]
    notes = []
    if len(r["push_shapes"]) != 1:
        notes.append("  WARNING: the bare app's push and the service's differ: " + json.dumps(r["push_shapes"]))
    if any(m["outcomes"]["bare_disagrees"] for m in results["sizes"].values()):
        notes.append("  WARNING: the bare app found no row for some numbers the service matched exactly")
    if last < 1_000_000:
        notes.append("  (a --quick run: the growth target is set from 10k to 1M numbers)")
    return report_checks(checks, results, args.json, run_started, notes)


if __name__ == "__main__":
    sys.exit(main())
