"""What the leads report's rollup triggers cost processing (issue 19), on a
kept cluster seeded by `benchmarks.reports`:

    .venv/bin/python -m benchmarks.reports_lead_trigger --keep /var/tmp/reads-10m-leads --lock /tmp/bench.lock

Batches of 1,000 new calls of one rep (three in ten with a new number, so
~300 new leads a batch) are uploaded and processed as
`benchmarks.ingest_batches.time_ingest` makes them, alternated batch by batch
(ABBA) between the triggers on `leads` enabled and disabled (`ALTER TABLE
leads DISABLE TRIGGER`, the fixed reference, in the same run); the reports'
processing hook runs on both sides. Printed: ms per 1,000 calls of
processing (its commit too: the rollup is worked out there), by wall clock
and by CPU (the app's and its database backend's), each side, and the
difference; and, with `track_functions = 'pl'` set in the cluster (ALTER
SYSTEM), the time spent inside the trigger functions, which the machine's
other work changes far less than a difference of two sides.

The leads a batch made are deleted after its run (outside the timing) and
the table vacuumed, so that each batch meets the seed's day of leads, not
the earlier batches' (the triggers recompute the day's bucket: its size is
the day's leads), nor their dead index entries.
Afterwards the rollup is worked out again from the leads (the disabled
side's batches were not counted), and an earlier run's calls are deleted
first through the service's own deletion.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime

from benchmarks.ingest_batches import time_ingest
from benchmarks.reports_seed import forget_ingest, kept_server, measuring

TRIGGERS = ("report_lead_days_insert", "report_lead_days_update", "report_lead_days_delete")


def _backend_cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0])


def _measure_runs(org_id: int, first_new_lead: int, totals: dict, vacuum) -> None:
    """Wrap `process_upload` (what `time_ingest` calls): the side time_ingest
    chose ("with the hook" or not) picks the triggers on or off instead, the
    hook runs on both; the run's wall, app and backend CPU are added to
    `totals[triggers on]`, then the leads the batch made are deleted (and
    vacuumed: the next batch's day does not meet them dead in the index)."""
    from sqlalchemy import text

    import mobile_sync.process_calls as processing

    process, hook = processing.process_upload, processing.after_processing_run

    def measured(session, upload_id, *args, **kwargs):
        with_triggers = processing.after_processing_run is hook
        processing.after_processing_run = hook
        verb = "ENABLE" if with_triggers else "DISABLE"
        for name in TRIGGERS:
            session.execute(text(f"ALTER TABLE leads {verb} TRIGGER {name}"))
        session.commit()
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        wall, app, backend = time.perf_counter(), time.process_time_ns(), _backend_cpu_ns(pid)
        result = process(session, upload_id, *args, **kwargs)
        session.commit()
        side = totals[with_triggers]
        side["wall"] += time.perf_counter() - wall
        side["app_ns"] += time.process_time_ns() - app
        side["db_ns"] += _backend_cpu_ns(pid) - backend
        side["batches"] += 1
        side["leads"] += session.execute(text("SELECT count(*) FROM leads WHERE organization_id = :org AND id >= :id"),
                                         {"org": org_id, "id": first_new_lead}).scalar()
        rows = session.execute(text("SELECT count(*) FROM calls WHERE upload_id = :id"), {"id": upload_id}).scalar()
        side["rows"] += rows
        for name in TRIGGERS:  # the clean-up is not processing: not counted in the triggers' own time
            session.execute(text(f"ALTER TABLE leads DISABLE TRIGGER {name}"))
        session.execute(text("DELETE FROM leads WHERE organization_id = :org AND id >= :id"),
                        {"org": org_id, "id": first_new_lead})
        session.execute(text("SELECT pg_stat_force_next_flush()"))
        session.commit()
        vacuum()
        return result

    processing.process_upload = measured


def _trigger_ms(pg) -> dict[str, float]:
    """Time spent in the triggers' functions so far, their own (not the
    functions they call), by name: with `track_functions = 'pl'` in the
    cluster, else nothing."""
    pg.execute("SELECT pg_stat_clear_snapshot()")
    return {name: float(ms) for name, ms in pg.execute(
        "SELECT funcname, self_time FROM pg_stat_user_functions WHERE funcname LIKE 'report_lead_days_%'")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", metavar="DIR", required=True, help="a cluster kept by benchmarks.reports")
    parser.add_argument("--batches", type=int, default=20, help="batches of 1,000 calls per side")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--lock", metavar="FILE", help="hold an flock on FILE while measuring")
    args = parser.parse_args(argv)
    import psycopg

    from tests.conftest import build_test_app

    rng = random.Random(args.seed)
    with open(os.path.join(args.keep, "world.json")) as stored:
        world = json.load(stored)
    now = datetime.fromisoformat(world["now"])
    server = kept_server(args.keep)
    try:
        app = build_test_app(server.url, tempfile.mkdtemp(prefix="bench-lead-trigger-"), REDIS_URL=None)
        from server.garbage_collection import settle_long_lived_process

        settle_long_lived_process()  # as the RQ worker, where processing runs
        pg = psycopg.connect(server.url.replace("postgresql+psycopg://", "postgresql://"))
        forget_ingest(app, pg, world["org"], through_hook=True)
        first_new_lead = pg.execute("SELECT coalesce(max(id), 0) + 1 FROM leads").fetchone()[0]
        day = pg.execute("SELECT count(*) FROM leads WHERE organization_id = %s AND created_at >= %s::date "
                         "AND created_at < %s::date + 1", (world["org"], now, now)).fetchone()[0]
        pg.rollback()
        totals = {side: dict.fromkeys(("wall", "app_ns", "db_ns", "batches", "leads", "rows"), 0)
                  for side in (True, False)}
        pg.autocommit = True
        _measure_runs(world["org"], first_new_lead, totals, lambda: pg.execute("VACUUM leads"))
        try:
            with measuring(args.lock):
                before = os.getloadavg()
                spent = _trigger_ms(pg)
                time_ingest(app, world, args.batches, rng, now)
                time.sleep(1.5)  # the backends' function statistics are flushed at most once a second
                spent = {name: ms - spent.get(name, 0.0) for name, ms in _trigger_ms(pg).items()}
                after = os.getloadavg()
        finally:
            from sqlalchemy import text

            from mobile_sync.store.lead_rollup import rebuild_lead_days
            from server.extensions import db

            with app.app_context():
                for name in TRIGGERS:
                    db.session.execute(text(f"ALTER TABLE leads ENABLE TRIGGER {name}"))
                rebuild_lead_days(db.session, world["org"])
                db.session.commit()
        print(f"\n{args.batches} batches of 1,000 calls per side, alternated (ABBA); {day} leads on the seed's "
              f"last UTC day; load average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
              f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")
        per = {}
        for side in (False, True):
            t = totals[side]
            per[side] = {key: t[key] / t["rows"] * 1000 for key in ("wall", "app_ns", "db_ns")}
            print(f"  triggers {'on ' if side else 'off'}: {t['leads'] / t['batches']:.0f} new leads a batch; "
                  f"processing {per[side]['wall'] * 1000:.1f} ms wall, {per[side]['app_ns'] / 1e6:.1f} ms app CPU "
                  f"+ {per[side]['db_ns'] / 1e6:.1f} ms database CPU per 1,000 calls")
        if spent:
            print(f"  inside the trigger functions (track_functions): "
                  f"{sum(spent.values()) / totals[True]['rows'] * 1000:.2f} ms per 1,000 calls "
                  f"({', '.join(f'{name} {ms:.0f} ms' for name, ms in sorted(spent.items()))} in all)")
        else:
            print("  (track_functions is off in the cluster: no time inside the trigger functions)")
        wall = (per[True]["wall"] - per[False]["wall"]) * 1000
        cpu = (per[True]["app_ns"] + per[True]["db_ns"] - per[False]["app_ns"] - per[False]["db_ns"]) / 1e6
        base = (per[False]["app_ns"] + per[False]["db_ns"]) / 1e6
        print(f"  the triggers: {wall:+.1f} ms wall, {cpu:+.1f} ms CPU per 1,000 calls "
              f"({cpu / base * 100:+.1f}% of processing's CPU without them)")
        pg.close()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
