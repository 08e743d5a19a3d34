"""The rollup hook's cost to processing (issue 19: "the rollups cost ingest
≤ 10% of its rows/s per core"), on a kept cluster seeded by `benchmarks.reports`.

    flock /tmp/bench.lock cp -a /var/tmp/bench-reports-1m /var/tmp/hook-1m    # once: a copy of your own
    .venv/bin/python -m benchmarks.reports_ingest --keep /var/tmp/hook-1m --lock /tmp/bench.lock --batches 20
    .venv/bin/python -m benchmarks.reports_ingest --keep /var/tmp/hook-1m --profile 6   # cProfile of the hook

Batches of 1,000 new calls of one rep (as a phone uploads them) are uploaded
and processed with and without the rollup hook, alternated batch by batch
(ABBA: `benchmarks.ingest_batches.time_ingest`); printed: rows/s of processing by
wall clock (one connection: the app's and the database's work are serial,
so this is per core) and by the app's CPU, with and without, and the
hook's cost as a share of processing's rows/s. The reference is processing
without the hook, measured in the same run.

The cluster is upgraded by the app's migrations when it starts (so a
schema change of the hook is measured on the same calls); the rollups
are those kept in the cluster, made by `benchmarks.reports` (with
`rebuild_reports`). An earlier run's ingest batches are deleted through the
service's own deletion first, which repairs the rollups the
without-hook batches left short, and the leads their processing made
(`forget_ingest_leads`): each run meets the same world. The reps' books
are given to them as contacts first, once (`reports_world`): a batch's
calls with the rep's own clients match contacts and only its new numbers
make leads (~300 a batch; `--no-book-contacts` leaves the books as the
seed wrote them: every book number a batch meets becomes a lead, ~770).

`--profile N`: N batches processed with the hook under cProfile (the
hook's functions only, cumulative).

The hook is the reports' one processing hook (`processing_hook.
after_processing_run`: the rollups and the leads' first responses), with
the first responses of the leads the run's calls are linked to, which their
activity's fold (`record_activity`) writes in the same UPDATE; the
reference is processing without both, i.e. with no report work at all
(`--profile` profiles the hook alone).
`--without-lead-responses` leaves the leads' refresh out of the hook (the
rollups alone against the same reference). The garbage collector is
settled as the RQ worker settles it (`server.garbage_collection`:
start-up's objects frozen, the young generation collected every 50,000
allocations), since processing runs there; `--default-gc` keeps CPython's
defaults.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import tempfile
import time
from datetime import datetime

from benchmarks.ingest_batches import WARMUP, time_ingest
from benchmarks.reports import forget_ingest, kept_server, measuring
from benchmarks.reports_world import give_books_contacts


def forget_ingest_leads(pg, org_id: int, now: str) -> int:
    """Remove the leads an earlier run's processing made (created at the
    world's "now", processing's clock), after their calls (`forget_ingest`),
    with their numbers in the phone index and their call-back tasks: every
    run's batches then meet the seeded world and their new numbers make new
    leads, as on the first run. (Left in place, a later run found them with
    the activity of calls deleted since and their first response cleared by
    that deletion: its processing wrote their response again, a non-HOT
    UPDATE that a lead the run makes never costs.) Returns the leads removed."""
    leads = "SELECT id FROM leads WHERE organization_id = %(org)s AND created_at = %(now)s"
    params = {"org": org_id, "now": now}
    pg.execute(f"DELETE FROM record_phones WHERE organization_id = %(org)s AND record_type = 'lead' "
               f"AND record_id IN ({leads})", params)
    pg.execute(f"DELETE FROM tasks WHERE organization_id = %(org)s AND record_type = 'lead' "
               f"AND record_id IN ({leads})", params)
    removed = pg.execute("DELETE FROM leads WHERE organization_id = %(org)s AND created_at = %(now)s", params).rowcount
    pg.commit()
    if removed:  # their dead rows out of the indexes a run's new leads go into
        pg.autocommit = True
        try:
            pg.execute("VACUUM (ANALYZE) leads, record_phones, tasks")
        finally:
            pg.autocommit = False
    return removed


def _backend_cpu_ns(pid: int) -> int:
    """CPU time a local PostgreSQL backend has run, in ns (`/proc/PID/schedstat`)."""
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0])


def _count_database_cpu(totals: dict) -> None:
    """Wrap `process_upload` and `ingest_calls` (what `time_ingest` and the
    upload request's view call) to add each run's CPU, the app's and its
    database backend's, to `totals[with the hook]` ("app_ns", "db_ns"), and
    its upload's `ingest_calls` to "upload_app_ns", "upload_db_ns" (and its
    calls to "upload_rows") of the same side: a figure per core that the
    machine's other work (two cores, shared) does not change the way it
    changes wall time. `ingest_calls` alone is the lower bound of the
    upload's cost (not the request's HTTP, JSON and token work); the whole
    request is counted by `time_ingest` ("request_*"). Its warm-up batches
    (`WARMUP`: uploaded and processed first, caches cold) are left out."""
    import mobile_sync.process_calls as processing
    import server.api.sync as sync_views

    process, hook, ingest = processing.process_upload, processing.after_processing_run, sync_views.ingest_calls
    upload = {"app_ns": 0, "db_ns": 0, "rows": 0}  # the last upload's, until its run says which side it is
    uploads = []

    def cpu_of(session, work) -> tuple:
        """(work's result, app CPU ns, database backend CPU ns)."""
        pid = session.connection().connection.dbapi_connection.info.backend_pid  # no statement sent
        db0, app0 = _backend_cpu_ns(pid), time.process_time_ns()
        result = work()
        return result, time.process_time_ns() - app0, _backend_cpu_ns(pid) - db0

    def counted_upload(session, *args, **kwargs):
        result, app_ns, db_ns = cpu_of(session, lambda: ingest(session, *args, **kwargs))
        uploads.append(result)
        if len(uploads) > WARMUP:  # not a warm-up batch
            upload.update(app_ns=app_ns, db_ns=db_ns, rows=result.accepted)
        return result

    def counted(session, *args, **kwargs):
        result, app_ns, db_ns = cpu_of(session, lambda: process(session, *args, **kwargs))
        if len(uploads) <= WARMUP:  # a warm-up batch's run
            return result
        side = totals[processing.after_processing_run is hook]
        side["app_ns"] += app_ns
        side["db_ns"] += db_ns
        side["upload_app_ns"] += upload["app_ns"]
        side["upload_db_ns"] += upload["db_ns"]
        side["upload_rows"] += upload["rows"]
        upload["app_ns"] = upload["db_ns"] = upload["rows"] = 0
        return result

    processing.process_upload = counted
    sync_views.ingest_calls = counted_upload


def _plans(session, on: bool) -> None:
    """auto_explain of every statement (EXPLAIN ANALYZE), sent to this client
    as notices, while `on`."""
    from sqlalchemy import text

    connection = session.connection().connection.driver_connection
    if on:
        if not getattr(connection, "_hook_plans", False):
            connection.add_notice_handler(lambda notice: print(notice.message_primary, flush=True))
            connection._hook_plans = True
        for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_analyze = on",
                        "SET auto_explain.log_level = 'notice'", "SET auto_explain.log_buffers = on",
                        "SET auto_explain.log_min_duration = 0"):
            session.execute(text(setting))
    else:
        session.execute(text("SET auto_explain.log_min_duration = -1"))


def _profile(app, world: dict, batches: int, rng: random.Random, now: datetime, explain: bool) -> None:
    """Process `batches` batches with the hook, the hook under cProfile (or
    with every statement's plan printed, `explain`)."""
    import mobile_sync.process_calls as processing

    hook = processing.after_processing_run
    profiler = cProfile.Profile()
    walls: list[float] = []
    warmed: list[bool] = []

    def profiled(*args, **kwargs):
        if not warmed:  # the warm-up batch's run (caches cold): not profiled
            warmed.append(True)
            return hook(*args, **kwargs)
        if explain:
            _plans(args[0], True)
            try:
                return hook(*args, **kwargs)
            finally:
                _plans(args[0], False)
        started = time.perf_counter()
        profiler.enable()
        try:
            return hook(*args, **kwargs)
        finally:
            profiler.disable()
            walls.append(time.perf_counter() - started)

    processing.after_processing_run = profiled
    try:
        # time_ingest swaps the hook in for its "with" batches: ours is the one it finds.
        time_ingest(app, world, batches, rng, now)
    finally:
        processing.after_processing_run = hook
    if explain:
        return
    print(f"hook: {len(walls)} runs, {sum(walls) / len(walls) * 1000:.1f} ms a run (wall, profiled)")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("HOOK_SORT", "cumulative")).print_stats(45)
    print(out.getvalue())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", metavar="DIR", required=True, help="a cluster kept by benchmarks.reports")
    parser.add_argument("--batches", type=int, default=20, help="batches of 1,000 calls per side")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--lock", metavar="FILE", help="hold an flock on FILE while measuring")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile the hook over N batches instead")
    parser.add_argument("--explain", action="store_true", help="with --profile: print the hook's plans instead")
    parser.add_argument("--without-lead-responses", action="store_true",
                        help="leave out the leads report's first-response refresh on both sides (processing as "
                             "the rollup hook's earlier figures measured it)")
    parser.add_argument("--no-book-contacts", action="store_true",
                        help="don't give the reps' books to them as contacts (benchmarks.reports_world)")
    parser.add_argument("--default-gc", action="store_true",
                        help="keep CPython's default garbage collector settings (not the RQ worker's)")
    args = parser.parse_args(argv)
    import psycopg

    from tests.conftest import build_test_app

    rng = random.Random(args.seed)
    with open(os.path.join(args.keep, "world.json")) as stored:
        world = json.load(stored)
    now = datetime.fromisoformat(world["now"])  # the seed's "now": the calls end there
    server = kept_server(args.keep)
    try:
        started = time.perf_counter()
        app = build_test_app(server.url, tempfile.mkdtemp(prefix="bench-hook-"), REDIS_URL=None)
        print(f"cluster {args.keep} started and upgraded in {time.perf_counter() - started:.0f} s", flush=True)
        if not args.default_gc:
            # Processing runs in the RQ worker, which settles its garbage
            # collector once started (server/worker.py): measure it so.
            from server.garbage_collection import settle_long_lived_process

            settle_long_lived_process()
        pg = psycopg.connect(server.url.replace("postgresql+psycopg://", "postgresql://"))
        started = time.perf_counter()
        forget_ingest(app, pg, world["org"], through_hook=True)  # an earlier run's batches, rollups repaired
        removed = forget_ingest_leads(pg, world["org"], world["now"])  # and the leads their processing made
        print(f"earlier ingest batches deleted in {time.perf_counter() - started:.0f} s ({removed:,} leads they "
              f"made)", flush=True)
        if not args.no_book_contacts:
            give_books_contacts(pg, world)
        calls = pg.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'calls'").fetchone()[0]
        pg.rollback()
        if args.profile:
            with measuring(args.lock):
                print(f"load average before: {os.getloadavg()}", flush=True)
                _profile(app, world, args.profile, rng, now, args.explain)
                print(f"load average after: {os.getloadavg()}", flush=True)
            return 0
        if args.without_lead_responses:
            from mobile_sync.reports import lead_responses

            import mobile_sync.store.record_activity as activity
            from mobile_sync.store.models import Lead

            lead_responses.after_run = lambda *args, **kwargs: 0
            # The linked leads' responses, written with their activity's fold: kept as they are.
            activity._first_response = lambda *args: Lead.__table__.c.first_response_at
            print("the leads' first-response refresh left out of the hook: the rollups alone against no report work")
        cpu = {side: dict.fromkeys(("app_ns", "db_ns", "upload_app_ns", "upload_db_ns", "upload_rows"), 0) for side in (True, False)}
        _count_database_cpu(cpu)
        with measuring(args.lock):
            before = os.getloadavg()
            ingest = time_ingest(app, world, args.batches, rng, now)
            after = os.getloadavg()
        print(f"\n~{calls:,} calls; {args.batches} batches of 1,000 calls per side, alternated (ABBA); "
              f"load average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
              f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")
        for with_hook in (False, True):
            side = ingest[with_hook]
            label = "with the hook" if with_hook else "without"
            print(f"  {label:<14} processing {side['rows'] / side['process_wall']:>8,.0f} rows/s wall, "
                  f"{side['rows'] / side['process_cpu']:>8,.0f} rows/s app CPU; upload+processing "
                  f"{side['rows'] / side['total_wall']:>8,.0f} rows/s wall")
        for with_hook in (False, True):
            side, used = ingest[with_hook], cpu[with_hook]
            label = "with the hook" if with_hook else "without"
            print(f"  {label:<14} processing {side['rows'] / ((used['app_ns'] + used['db_ns']) / 1e9):>8,.0f} rows/s "
                  f"per core (app + database CPU: {used['app_ns'] / side['rows'] / 1e3:.0f} + "
                  f"{used['db_ns'] / side['rows'] / 1e3:.0f} ms per 1,000 calls)")
        for with_hook in (False, True):
            side, used = ingest[with_hook], cpu[with_hook]
            label = "with the hook" if with_hook else "without"
            up = (used["upload_app_ns"] + used["upload_db_ns"]) / used["upload_rows"]
            print(f"  {label:<14} upload+processing {1e9 / (up + (used['app_ns'] + used['db_ns']) / side['rows']):>8,.0f} "
                  f"rows/s per core (the upload's app + database CPU: "
                  f"{used['upload_app_ns'] / used['upload_rows'] / 1e3:.0f} + "
                  f"{used['upload_db_ns'] / used['upload_rows'] / 1e3:.0f} ms per 1,000 calls)")
        off, on = ingest[False], ingest[True]
        both = {key: (cpu[key]["app_ns"] + cpu[key]["db_ns"]) / ingest[key]["rows"] for key in (False, True)}
        whole = {key: both[key] + (cpu[key]["upload_app_ns"] + cpu[key]["upload_db_ns"]) / cpu[key]["upload_rows"]
                 for key in (False, True)}
        print(f"  the hook's cost, processing, app + database CPU: {(1 - both[False] / both[True]) * 100:.1f}% "
              f"of rows/s per core ({(both[True] - both[False]) / 1e3:.1f} ms per 1,000 calls)")
        print(f"  the hook's cost, ingest (upload+processing), app + database CPU: "
              f"{(1 - whole[False] / whole[True]) * 100:.1f}% of rows/s per core "
              f"({(whole[True] - whole[False]) / 1e3:.1f} ms per 1,000 calls)")
        # The upload comes before the run it is counted with and never meets the
        # hook: its CPU averaged over both sides, the same on each (the
        # sides' batches differ: each side's own figure is printed above).
        upload = sum(cpu[key]["upload_app_ns"] + cpu[key]["upload_db_ns"] for key in cpu) / sum(
            cpu[key]["upload_rows"] for key in cpu)
        print(f"  the hook's cost, ingest, the upload's CPU averaged over both sides ({upload / 1e3:.0f} ms per 1,000 "
              f"calls): {(1 - (upload + both[False]) / (upload + both[True])) * 100:.1f}% of rows/s per core")
        # Ingest as ingest is: the upload request itself (its HTTP, JSON,
        # token and ingest_calls work, app + database CPU), then processing.
        rows = sum(ingest[key]["request_rows"] for key in ingest)
        request_app = sum(ingest[key]["request_app_ns"] for key in ingest) / rows
        request_db = sum(ingest[key]["request_db_ns"] for key in ingest) / rows
        request = request_app + request_db
        print(f"  the upload request (POST /api/v1/sync/calls with the device's token), app + database CPU: "
              f"{request_app / 1e3:.0f} + {request_db / 1e3:.0f} ms per 1,000 calls (ingest_calls alone: "
              f"{upload / 1e3:.0f})")
        for with_hook in (False, True):
            label = "with the hook" if with_hook else "without"
            print(f"  {label:<14} request+processing {1e9 / (request + both[with_hook]):>8,.0f} rows/s per core")
        print(f"  the hook's cost, ingest (the upload request + processing), app + database CPU: "
              f"{(1 - (request + both[False]) / (request + both[True])) * 100:.1f}% of rows/s per core "
              f"(lower bound, ingest_calls for the request: "
              f"{(1 - (upload + both[False]) / (upload + both[True])) * 100:.1f}%)")
        for key, label in (("process_wall", "processing, wall"), ("process_cpu", "processing, app CPU"),
                           ("total_wall", "upload+processing, wall")):
            cost = 1 - (on["rows"] / on[key]) / (off["rows"] / off[key])
            print(f"  the hook's cost, {label}: {cost * 100:.1f}% of rows/s")
        hook_ms = (on["process_wall"] / on["rows"] - off["process_wall"] / off["rows"]) * 1_000_000
        print(f"  the hook: {hook_ms:.1f} ms wall per 1,000 calls")
        made = pg.execute("SELECT count(*) FROM leads WHERE organization_id = %s AND created_at = %s",
                          (world["org"], world["now"])).fetchone()[0]
        pg.rollback()
        print(f"  leads the batches made: {made:,} ({made / (2 * args.batches + WARMUP):.0f} a batch)")
        pg.close()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
