"""Reports at scale, on PostgreSQL, in one run (issue 19).

    .venv/bin/python -m benchmarks.reports            # 10M calls, 500 reps, 2 years
    .venv/bin/python -m benchmarks.reports --quick    # 1M calls, 500 reps
    .venv/bin/python -m benchmarks.reports --keep /var/tmp/bench-reports-10m   # seed once, reuse after

What the rollups cost processing is measured by `benchmarks/reports_ingest.py`
(on a copy of the cluster kept here), not here.

With `--keep DIR` the PostgreSQL cluster lives in DIR and is reused by the
next run with the same DIR (the seeded calls and leads; the rollup tables
are dropped, made again from the models and rebuilt, so a changed rollup
design is measured on the same calls). `--seed-only` stops after seeding.

1. Seeds one organisation: reps with phones (a fifth with office hours),
   calls over two years written with COPY (psycopg), leads and their first
   responses; then fills the rollups with the service's own
   `rebuild_reports` and runs VACUUM ANALYZE (`benchmarks/reports_seed.py`;
   a kept cluster seeded before `leads.first_response_at` gets the column,
   its index and the responses worked out, not the rollups rebuilt).
2. Each report over the latest 90 days, answered by its domain function
   (`mobile_sync.reports.figures`, what the API view calls, after what the
   view has done first: a connection from the pool, the organisation
   loaded), `--repeat` times: p50 and p99; with the garbage collector settled as in gunicorn's
   workers (`server.garbage_collection`; `--default-gc`: CPython's defaults). The HTTP path (Flask's test client, bearer token,
   JSON made by orjson) is timed too, for the calls report grouped by user
   and by user and day.
3. The same report computed from the raw calls (one SQL statement over the
   range, as a report without rollups would: GROUP BY with count(DISTINCT),
   a LATERAL probe per missed call or lead, percentile_cont;
   `benchmarks/reports_raw.py`), a few times, and the ratio of medians and
   of p99s.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from benchmarks.reports_raw import _p, time_raw
from benchmarks.reports_seed import (
    ZONE, _rollup_design, _rollups_current, build_rollups, forget_ingest, kept_server, measuring,
    prepare_report_reads, remake_rollup_tables, seed,
)

# What benchmarks/reports_ingest.py imports from here.
__all__ = ["forget_ingest", "kept_server", "measuring", "time_reports"]


def time_reports(app, world: dict, first, last, repeat: int) -> dict:
    from mobile_sync.reports import figures
    from mobile_sync.store.models import Organization
    from server.extensions import db

    runs = {
        "calls by user and day": lambda s: figures.calls_report(s, world["org"], first=first, last=last,
                                                               user_ids=None, group="user,day"),
        "calls by user": lambda s: figures.calls_report(s, world["org"], first=first, last=last, user_ids=None,
                                                        group="user"),
        "calls by day": lambda s: figures.calls_report(s, world["org"], first=first, last=last, user_ids=None,
                                                       group="day"),
        "missed": lambda s: figures.missed_report(s, world["org"], first=first, last=last, user_ids=None),
        "leads": lambda s: figures.leads_report(s, world["org"], first=first, last=last, user_ids=None),
    }
    out = {}
    with app.app_context():
        for name, run in runs.items():
            run(db.session)  # warm
            times = []
            for _ in range(repeat):
                # What the request has done before its report, untimed: the
                # connection checked out of the pool (its pre-ping) and the
                # organisation loaded (`server.api.reports._scope`). The raw
                # reference runs on one connection held throughout, its zone given.
                organization = db.session.get(Organization, world["org"])  # held, as the request holds it
                started = time.perf_counter()
                items = run(db.session)
                times.append(time.perf_counter() - started)
                del organization
                db.session.rollback()
            out[name] = {"p50": _p(times, 0.5), "p99": _p(times, 0.99), "items": len(items)}
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world['token']}"}
    for group, name in (("user", "HTTP calls by user"), ("user,day", "HTTP calls by user and day")):
        times = []
        for i in range(repeat + 1):
            started = time.perf_counter()
            response = client.get("/api/v1/reports/calls", headers=headers,
                                  query_string={"from": first.isoformat(), "to": last.isoformat(), "group": group})
            body = response.get_data()
            if i:
                times.append(time.perf_counter() - started)
            assert response.status_code == 200, body[:300]
        out[name] = {"p50": _p(times, 0.5), "p99": _p(times, 0.99), "items": len(json.loads(body)["items"])}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--quick", action="store_true", help="1M calls")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--raw-repeat", type=int, default=5)
    parser.add_argument("--ingest-batches", type=int, default=0,
                        help="0 only: the ingest is measured by benchmarks/reports_ingest.py")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--keep", metavar="DIR", help="keep the seeded cluster in DIR; reuse it if seeded already")
    parser.add_argument("--seed-only", action="store_true", help="stop after seeding (with --keep)")
    parser.add_argument("--rebuild-only", action="store_true", help="stop after building the rollups")
    parser.add_argument("--reuse-rollups", action="store_true",
                        help="with --keep: reuse the kept rollups even if their code changed (same tables)")
    parser.add_argument("--default-gc", action="store_true",
                        help="keep CPython's garbage collector settings (default: settled as gunicorn's workers)")
    parser.add_argument("--lock", metavar="FILE", help="hold an flock on FILE while measuring (not while seeding)")
    args = parser.parse_args(argv)
    if args.ingest_batches:
        parser.error("the rollups' cost to processing is measured by benchmarks/reports_ingest.py")
    if args.quick:
        args.calls = 1_000_000
    import psycopg

    from tests.conftest import build_test_app
    from tests.servers import PostgresServer

    rng = random.Random(args.seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    server = kept_server(args.keep) if args.keep else PostgresServer(durable=True)
    saved = os.path.join(args.keep, "world.json") if args.keep else None
    try:
        app = build_test_app(server.url, tempfile.mkdtemp(prefix="bench-reports-"), REDIS_URL=None)
        if not args.default_gc:
            # The reports are answered by gunicorn workers, which settle their
            # garbage collector once the app is loaded (gunicorn.conf.py): measure them so.
            from server.garbage_collection import settle_long_lived_process

            settle_long_lived_process()
        pg = psycopg.connect(server.url.replace("postgresql+psycopg://", "postgresql://"))
        if saved and os.path.exists(saved):
            with open(saved) as stored:
                world = json.load(stored)
            # The seed's "now": the calls end there, and so does the reports' range.
            now = datetime.fromisoformat(world["now"])
            reuse = args.reuse_rollups or _rollups_current(args.keep)
            forget_ingest(app, pg, world["org"], through_hook=reuse)  # an earlier run's ingest batches
            if not reuse:
                remake_rollup_tables(app)
            print(f"reusing the cluster seeded in {args.keep} at {now.isoformat()}"
                  f"{' and its rollups' if reuse else ''}", flush=True)
        else:
            reuse = False
            world = seed(app, pg, calls=args.calls, reps=args.reps, days=args.days, rng=rng, now=now)
            if saved:
                with open(saved, "w") as stored:
                    json.dump({**world, "now": now.isoformat()}, stored)
        if args.seed_only:
            return 0
        seconds = prepare_report_reads(app, pg, world["org"])
        if seconds is not None:
            print(f"revision a1c3e5f7b9d2's column and indexes made in {seconds:.0f} s", flush=True)
        pg.autocommit = True
        # The first responses just worked out (or migrated), and the index-only reads' visibility map.
        pg.execute("VACUUM ANALYZE leads")
        pg.execute("VACUUM ANALYZE report_call_days")
        pg.execute("VACUUM ANALYZE report_call_months")  # filled by its migration, or just rebuilt
        if not reuse:
            pg.execute("VACUUM ANALYZE calls")
            pg.execute("VACUUM ANALYZE leads")
            seconds = build_rollups(app, world["org"])
            for table in ("report_call_days", "report_call_months", "report_org_days", "report_missed_calls"):
                pg.execute(f"VACUUM ANALYZE {table}")
            if args.keep:
                with open(os.path.join(args.keep, "rollups.version"), "w") as marker:
                    marker.write(_rollup_design())
            print(f"rollups rebuilt from the calls in {seconds:.0f} s")
        pg.autocommit = False
        days = pg.execute("SELECT count(*) FROM report_call_days").fetchone()[0]
        print(f"{days:,} user-days in the rollups", flush=True)
        if args.rebuild_only:
            return 0

        last = now.astimezone(ZoneInfo(ZONE)).date()
        first = last - timedelta(days=89)
        print(f"\n90-day range {first} .. {last}, {args.calls:,} calls, {args.reps} reps, PostgreSQL")
        with measuring(args.lock):
            print(f"load average before measuring: {os.getloadavg()}", flush=True)
            fast = time_reports(app, world, first, last, args.repeat)
            raw = time_raw(pg, world, first, last, args.raw_repeat)
            print(f"load average after: {os.getloadavg()}", flush=True)
        print(f"{'report':<24}{'items':>7}{'rollup p50':>12}{'p99':>9}{'raw p50':>10}{'raw p99':>9}"
              f"{'x (p50)':>9}{'x (p99)':>9}")
        for name, figures in fast.items():
            base = raw.get(name)
            if base:
                print(f"{name:<24}{figures['items']:>7}{figures['p50'] * 1000:>10.1f}ms{figures['p99'] * 1000:>7.1f}ms"
                      f"{base['p50'] * 1000:>8.0f}ms{base['p99'] * 1000:>7.0f}ms{base['p50'] / figures['p50']:>8.1f}x"
                      f"{base['p99'] / figures['p99']:>8.1f}x")
            else:
                print(f"{name:<24}{figures['items']:>7}{figures['p50'] * 1000:>10.1f}ms{figures['p99'] * 1000:>7.1f}ms")

        pg.close()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
