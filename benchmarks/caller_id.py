"""Caller ID end to end: look-up latency through HTTP against gunicorn at
10k, 100k and 1M numbers in the phone index, and ringing -> push at a fake FCM.

The production topology of `tests/topology.py` on loopback (PostgreSQL with its
durable defaults unless --no-fsync, Redis, gunicorn with 2 workers, 1 RQ
worker), the real firebase-admin client talking to `tests.fake_fcm.FakeFcm` on
127.0.0.1. gunicorn serves `benchmarks.like_baseline:create_app()`: the
service plus one benchmark-only route, the LIKE baseline below. One organisation (region IN) signs up
over HTTP, registers a phone (with an FCM token) and consents; its CRM contacts
and their rows in the phone index (`record_phones`) are then written with COPY:
Indian, UK and US numbers in E.164 with their suffix keys (last 7 digits of the
national significant number), 2% of the rows on shared switchboard numbers.
The index grows 10k -> 100k -> 1M rows, with VACUUM ANALYZE after each step.

At each size, over one keep-alive connection (http.client), request by request:
  GET /api/v1/caller-id?number=...   hits written as E.164 or "+91 98765 43210",
                                     hits written nationally ("098765 43210",
                                     "9876543210"), and misses; each number once
  GET /api/v1/ping                   the same token: an authenticated no-op
and, interleaved, the naive baseline end to end:
  GET /api/v1/caller-id-like?number=...  the same request through the same code
                                     (authentication, normalisation, answer, audit)
                                     with the index probes replaced by a scan,
                                     ... AND e164 LIKE '%' || :suffix (same answers)
and, for reference, the bare LIKE query and the two index probes the look-up
issues, timed straight against PostgreSQL from this process, and both inside
PostgreSQL (EXPLAIN ANALYZE execution time).

After the interleaved samples, each endpoint alone for a few hundred requests
gives the CPU per request of gunicorn, PostgreSQL and Redis (from /proc): a
figure the load of a shared machine does not blur as much as latency.

Then, at the largest size: POST /api/v1/calls/ringing with the device token
(hits and misses, a new number each time, ~25 ms apart), timed from sending
the request to the fake FCM server receiving the push (matched by `push_id` in
the message data); the 202 alone, and the CPU per ring. The push is sent by
the web process's dispatcher (`server/push_dispatch.py`); the RQ worker runs,
as in production, as its fallback (its CPU per ring shows whether it was used).

    .venv/bin/python benchmarks/caller_id.py [--quick] [--samples N] [--sizes 10000,100000,1000000]
                                             [--rings N] [--budget S] [--json FILE]
                                             [--profile DIR] [--py-spy PATH]

Targets (issue 4): p99(caller-id) <= 1.3 x p99(ping) at every size; p99 flat
from the smallest to the largest size (<= 1.2x); >= 1,000x faster than the
LIKE baseline at 1M (median look-up vs median LIKE request, both through HTTP);
ringing -> FCM p99 <= 15 ms. The exit status is 1 when a target is missed.

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
`caller_id_profile.py` --profile and --py-spy; this file the targets, the
options and the report.

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

from benchmarks.caller_id_data import check_suffix_keys, grow, make_lookups, pg_connect  # noqa: E402
from benchmarks.caller_id_latency import KeepAlive, measure_cpu, measure_size  # noqa: E402
from benchmarks.caller_id_profile import profile_lookups, spy_profile  # noqa: E402
from benchmarks.caller_id_ringing import SignallingFcm, measure_ringing  # noqa: E402
from scripts.simulate_phone import Client, give_consent, register_device, sign_in  # noqa: E402
from tests.topology import Topology  # noqa: E402

TARGET_VS_PING = 1.3
TARGET_FLAT = 1.2
TARGET_VS_LIKE = 1000.0
TARGET_RING_P99_MS = 15.0
PROJECT = "bench-project"


# --------------------------------------------------------------------------------------------
def fmt_size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k and 100k only, fewer samples")
    parser.add_argument("--sizes", help="comma-separated index sizes (default 10000,100000,1000000)")
    parser.add_argument("--samples", type=int, help="caller-id (and ping) samples per size (default 2500; quick 1000)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up request pairs per size")
    parser.add_argument("--like-samples", type=int, help="LIKE baseline samples at the largest size (default 40)")
    parser.add_argument("--rings", type=int, default=400, help="ringing pushes timed (default %(default)s)")
    parser.add_argument("--ring-gap-ms", type=float, default=25.0, help="mean pause between two rings")
    parser.add_argument("--cpu-requests", type=int, default=300,
                        help="requests per endpoint for the CPU-per-request figures (default %(default)s)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run (soft limit)")
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
    like_top = args.like_samples or (40 if sizes[-1] >= 1_000_000 else 100)
    rings = args.rings if not args.quick else min(args.rings, 300)
    run_started = time.monotonic()
    deadline = run_started + args.budget
    rng = random.Random(args.seed)

    fcm = SignallingFcm(PROJECT)
    env = {"FCM_CREDENTIALS": "token:bench", "FCM_PROJECT_ID": PROJECT, "FCM_URL": fcm.url}
    print(f"sizes {', '.join(map(fmt_size, sizes))}; {samples:,} caller-id + {samples:,} ping samples per size "
          f"after {args.warmup} warm-up pairs; {rings} rings; gunicorn {args.web_workers} workers x "
          f"{args.web_threads} threads, 1 RQ worker; fake FCM on 127.0.0.1:{fcm.port}", flush=True)
    try:
        topo = Topology(web_workers=args.web_workers, web_threads=args.web_threads, rq_workers=1, env=env,
                        app="benchmarks.like_baseline:create_app()", durable_postgres=not args.no_fsync)
        topo.__enter__()
    except BaseException as err:  # tests.servers skips (raises) when a server is missing
        fcm.close()
        print(f"cannot start the topology: {err}", file=sys.stderr)
        return 2
    results: dict = {"sizes": {}, "started": datetime.now(timezone.utc).isoformat(),
                     "load_average_start": os.getloadavg()}
    pg = None
    try:
        client = Client(topo.base_url, timeout=60, attempts=4)
        phone = sign_in(client, email=f"bench-callerid-{time.time_ns()}@example.test",
                        password="benchmark password", organization="Caller ID Benchmark", region="IN", name="Rep")
        register_device(phone)
        give_consent(phone)
        org_id = phone.organization_id
        topo.execute("UPDATE organizations SET plan = 'unlimited' WHERE id = :o", {"o": org_id})
        owner_id = topo.scalar("SELECT user_id FROM devices WHERE id = :d", d=phone.device_id)
        assert topo.scalar("SELECT fcm_token FROM devices WHERE id = :d", d=phone.device_id)
        pg = pg_connect(topo)
        http = KeepAlive(topo.port, phone.device_token)
        print(f"topology up in {time.monotonic() - run_started:.1f}s; organisation {org_id}, device "
              f"{phone.device_id}", flush=True)

        last_lookups: list = []
        for index, size in enumerate(sizes):
            seeded = grow(pg, org_id=org_id, owner_id=owner_id, rng=rng, target_rows=size)
            bad = check_suffix_keys(pg, org_id)
            # A few generated numbers fall in ranges phonenumbers' metadata does not
            # allocate (e.g. UK +44 7911 ...): about 1 in 10,000, never looked up.
            if bad > 5:
                raise SystemExit(f"{bad} of 500 seeded rows disagree with mobile_sync.phones.normalize_number")
            lookups = make_lookups(pg, org_id, args.warmup + samples, rng)
            rows = pg.execute("SELECT count(*), count(DISTINCT e164) FROM record_phones WHERE organization_id = %s",
                              (org_id,)).fetchone()
            print(f"\n{fmt_size(size)}: {rows[0]:,} index rows ({rows[1]:,} distinct numbers), +{seeded['added']:,} "
                  f"in {seeded['seconds']:.1f}s (generate {seeded.get('generate_s', 0):.1f}s, COPY "
                  f"{seeded.get('copy_s', 0):.1f}s, VACUUM ANALYZE {seeded.get('analyze_s', 0):.1f}s); "
                  f"{len(lookups) - args.warmup:,} look-ups", flush=True)
            like_samples = like_top if index == len(sizes) - 1 else max(like_top, 100)
            # Leave time for the later sizes (seeding ~150 s per million rows on a busy 2-core machine) and the rings.
            reserve = 60 + (sizes[-1] - size) * 1.5e-4
            share = (deadline - time.monotonic() - reserve) / max(1, len(sizes) - index)
            measured = measure_size(http, pg, org_id, lookups, warmup=args.warmup, like_samples=like_samples,
                                    deadline=time.monotonic() + max(30.0, share))
            measured["cpu_ms"] = measure_cpu(topo, http, lookups, args.cpu_requests)
            measured["rows"] = rows[0]
            measured["seed"] = seeded
            measured["load_average"] = os.getloadavg()
            results["sizes"][size] = measured
            c, p, l, s = measured["caller_id"], measured["ping"], measured["like"], measured["index_sql"]
            print(f"  caller-id p50 {c['p50']:.2f}  p90 {c['p90']:.2f}  p99 {c['p99']:.2f} ms  (n={c['n']})\n"
                  f"  ping      p50 {p['p50']:.2f}  p90 {p['p90']:.2f}  p99 {p['p99']:.2f} ms\n"
                  f"  LIKE through HTTP p50 {measured['like_http']['p50']:.2f}  p99 {measured['like_http']['p99']:.2f} ms "
                  f"(same request, LIKE scan instead of the index; answers differing: {measured['like_disagrees']})\n"
                  f"  LIKE query alone p50 {l['p50']:.2f}  p99 {l['p99']:.2f} ms (n={l['n']});  index probes alone "
                  f"p50 {s['p50']:.3f} ms\n  inside PostgreSQL (EXPLAIN ANALYZE): index probe p50 "
                  f"{measured['pg_index_probe']['p50']:.3f} ms, LIKE scan p50 {measured['pg_like']['p50']:.2f} ms\n"
                  f"  outcomes {measured['outcomes']}; load average "
                  f"{measured['load_average'][0]:.2f}", flush=True)
            for name, cpu in measured["cpu_ms"].items():
                print(f"  CPU per {name:9s} request: gunicorn {cpu['gunicorn']:.2f}, PostgreSQL {cpu['postgres']:.2f}, "
                      f"Redis {cpu['redis']:.2f}, client {cpu['client']:.2f} ms", flush=True)
            last_lookups = lookups
            if c["n"] < 2000:
                print(f"  note: only {c['n']} samples (time budget): p99 is less stable", flush=True)

        print(f"\nringing at {fmt_size(sizes[-1])}: {rings} rings (+20 warm-up), ~{args.ring_gap_ms:.0f} ms apart",
              flush=True)
        ring_numbers = [number for _, number, _ in make_lookups(pg, org_id, rings + 20, rng)]
        fcm.reset()
        ringing = measure_ringing(topo, phone.device_token, fcm, ring_numbers, warmup=20,
                                  gap_s=args.ring_gap_ms / 1000, deadline=deadline + 60)
        statuses = dict(topo.sql("SELECT status, count(*) FROM push_messages WHERE organization_id = :o "
                                 "AND kind = 'ringing' GROUP BY 1", o=org_id))
        ringing["push_statuses"] = statuses
        results["ringing"] = ringing
        r, a = ringing["to_fcm"], ringing["accepted"]
        print(f"  ring -> FCM p50 {r['p50']:.2f}  p90 {r['p90']:.2f}  p99 {r['p99']:.2f}  max {r['max']:.2f} ms "
              f"(n={r['n']}, lost {ringing['lost']})\n  202 alone   p50 {a['p50']:.2f}  p90 {a['p90']:.2f}  "
              f"p99 {a['p99']:.2f} ms;  202 -> FCM p50 {ringing['after_202']['p50']:.2f}  p99 "
              f"{ringing['after_202']['p99']:.2f} ms;  push_messages {statuses}", flush=True)
        if ringing["cpu_ms"]:
            cpu = ringing["cpu_ms"]
            print(f"  CPU per ring: gunicorn {cpu['gunicorn']:.2f}, RQ worker {cpu['worker']:.2f}, PostgreSQL "
                  f"{cpu['postgres']:.2f}, Redis {cpu['redis']:.2f}, this process (client + fake FCM) "
                  f"{cpu['client']:.2f} ms", flush=True)

        if args.py_spy:
            print(f"\npy-spy at {fmt_size(sizes[-1])}:", flush=True)
            results["py_spy"] = spy_profile(topo, phone.device_token, last_lookups, fcm, args.py_spy,
                                            args.profile or Path(tempfile.mkdtemp(prefix="caller-id-profile-")),
                                            args.py_spy_seconds)
        if args.profile:
            profile_lookups(topo, phone.device_token, last_lookups, args.profile, args.profile_requests)
    finally:
        if pg is not None:
            pg.close()
        topo.close()
        fcm.close()

    # ---- summary ---------------------------------------------------------------------------
    first, last = sizes[0], sizes[-1]
    print(f"\n{'=' * 100}\nCaller ID benchmark (issue 4), {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} CPUs, load average at start {results['load_average_start'][0]:.2f}")
    print(f"{'index rows':>10} | {'caller-id p50/p90/p99 ms':>25} | {'ping p50/p90/p99 ms':>22} | "
          f"{'p99 ratio':>9} | {'LIKE via HTTP p50 (n)':>21} | {'speed-up':>8} | {'LIKE SQL p50':>12} | "
          f"{'index SQL p50':>13}")
    ratios = {}
    for size in sizes:
        m = results["sizes"][size]
        c, p, l, s, lh = m["caller_id"], m["ping"], m["like"], m["index_sql"], m["like_http"]
        ratios[size] = c["p99"] / p["p99"]
        # End to end, like for like: the same HTTP request, served through a LIKE scan.
        speedup = lh["p50"] / c["p50"]
        m["p99_ratio"], m["speedup_vs_like"] = ratios[size], speedup
        print(f"{fmt_size(size):>10} | {c['p50']:7.2f} {c['p90']:7.2f} {c['p99']:7.2f}   | "
              f"{p['p50']:6.2f} {p['p90']:6.2f} {p['p99']:6.2f}  | {ratios[size]:8.2f}x | "
              f"{lh['p50']:12.2f} ms ({lh['n']:>3}) | {speedup:7.{0 if speedup >= 10 else 1}f}x | "
              f"{l['p50']:9.2f} ms | {s['p50'] * 1000:10.0f} us")
    print(f"{'index rows':>10} | service CPU per request, ms (gunicorn + PostgreSQL + Redis): caller-id vs ping")
    for size in sizes:
        cpu = results["sizes"][size]["cpu_ms"]
        c, p = (sum(cpu[k][part] for part in ("gunicorn", "postgres", "redis")) for k in ("caller_id", "ping"))
        print(f"{fmt_size(size):>10} | caller-id {c:.2f} (gunicorn {cpu['caller_id']['gunicorn']:.2f}, PostgreSQL "
              f"{cpu['caller_id']['postgres']:.2f}) vs ping {p:.2f} (gunicorn {cpu['ping']['gunicorn']:.2f}, "
              f"PostgreSQL {cpu['ping']['postgres']:.2f}): {c / p:.2f}x")
    flat = results["sizes"][last]["caller_id"]["p99"] / results["sizes"][first]["caller_id"]["p99"]
    speedup = results["sizes"][last]["speedup_vs_like"]
    sql_speedup = results["sizes"][last]["like"]["p50"] / results["sizes"][last]["index_sql"]["p50"]
    pg_speedup = results["sizes"][last]["pg_like"]["p50"] / results["sizes"][last]["pg_index_probe"]["p50"]
    r = results["ringing"]
    print(f"ringing -> fake FCM: p50 {r['to_fcm']['p50']:.2f}  p90 {r['to_fcm']['p90']:.2f}  "
          f"p99 {r['to_fcm']['p99']:.2f} ms (n={r['to_fcm']['n']}, lost {r['lost']}); 202 alone p50 "
          f"{r['accepted']['p50']:.2f}  p99 {r['accepted']['p99']:.2f} ms; 202 -> FCM p50 "
          f"{r['after_202']['p50']:.2f}  p99 {r['after_202']['p99']:.2f} ms")
    checks = [
        (f"p99(caller-id) <= {TARGET_VS_PING}x p99(ping) at every size",
         all(v <= TARGET_VS_PING for v in ratios.values()),
         ", ".join(f"{fmt_size(k)} {v:.2f}x" for k, v in ratios.items())),
        (f"flat: p99({fmt_size(last)}) <= {TARGET_FLAT}x p99({fmt_size(first)})", flat <= TARGET_FLAT, f"{flat:.2f}x"),
        (f">= {TARGET_VS_LIKE:,.0f}x faster than LIKE at {fmt_size(last)} end to end (p50 of the same HTTP request "
         f"served through a LIKE scan)", speedup >= TARGET_VS_LIKE,
         f"{speedup:,.0f}x (the statements alone from a client: {sql_speedup:,.0f}x; "
         f"inside PostgreSQL: {pg_speedup:,.0f}x)"),
        (f"ringing -> FCM p99 <= {TARGET_RING_P99_MS:.0f} ms",
         r["to_fcm"]["p99"] <= TARGET_RING_P99_MS and not r["lost"], f"{r['to_fcm']['p99']:.2f} ms"),
    ]
    for name, ok, value in checks:
        print(f"  [{'met   ' if ok else 'MISSED'}] {name}: {value}")
    # The machine's load moves both endpoints alike; the ratio to ping at each size does not move with it.
    print(f"  (flatness with the load factored out: (p99 caller-id / p99 ping) at {fmt_size(last)} over the same at "
          f"{fmt_size(first)}: {ratios[last] / ratios[first]:.2f}x)")
    if pg_speedup >= TARGET_VS_LIKE > speedup:
        print(f"  (the {TARGET_VS_LIKE:,.0f}x is met inside the database only: end to end the HTTP request itself, "
              f"~{results['sizes'][last]['ping']['p50']:.1f} ms for the no-op, is paid by both)")
    if any(m["like_disagrees"] for m in results["sizes"].values()):
        print("  WARNING: the LIKE baseline answered differently from the look-up for some numbers: "
              + ", ".join(f"{fmt_size(k)} {m['like_disagrees']}" for k, m in results["sizes"].items()))
    if last < 1_000_000:
        print("  (a --quick run: the targets are set at 1M numbers)")
    print(f"whole run {time.monotonic() - run_started:.0f}s")
    if args.json:
        for m in results["sizes"].values():
            m.pop("_raw", None)
        results["checks"] = [{"target": n, "met": ok, "value": v} for n, ok, v in checks]
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
