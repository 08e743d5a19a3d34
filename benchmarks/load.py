"""Load and fault run against the production topology on loopback.

gunicorn (several workers), 2 RQ workers, Redis, PostgreSQL and a scriptable
fake FCM (`tests/topology.py`, `tests/fake_fcm.py`), every process on
127.0.0.1. N simulated phones (threads, one device token each) do what the
app does for D seconds: upload call-log batches of mixed sizes (about a tenth
of the rows repeated from earlier batches; a failed batch is sent again with
the same batch_id on a 5xx, a connection error or a 429, honouring
Retry-After, and kept queued if it still fails), upload the phone book, ring
(POST /api/v1/calls/ringing) and look callers up; two managers list leads and
approve, reject or reassign them.

    .venv/bin/python benchmarks/load.py [--phones 50] [--seconds 60] [--faults] [--quick] [--json FILE]

--quick is what the test suite runs (tests/e2e/test_load_faults.py): 10
phones for 20 s, or 35 s with --faults.

--faults, during the load: an FCM storm of 503s with Retry-After, an RQ worker
killed with SIGKILL (inside a job) and started again, some devices' tokens
turned UNREGISTERED, Redis stopped and started on the same port, a 429 storm,
PostgreSQL stopped and started. A supervisor thread starts any RQ worker that
exits, as a process supervisor does. Afterwards `flask sweep-outbox` runs.

Reported: throughput, p50/p99 per endpoint, errors by status, and invariants
checked in the database once the queues drain (a bounded wait): every call a
phone got accepted stored exactly once and processed, every upload processed,
no job left queued or started, every ringing push recorded once per device
and sent once (the fake FCM's own log), /metrics agreeing with the database;
with --faults also: dead tokens removed and nothing sent to them afterwards,
FCM retries spaced by at least Retry-After. Exit status 1 when one fails.
Everything is bounded in time: the load, the drain, every request (timeout).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.load_checks import (  # noqa: E402
    Check, check_invariants, log_evidence, scrape_metrics, service_log_excerpt)
from benchmarks.load_faults import FaultDriver, LoadFcm  # noqa: E402
from benchmarks.load_phones import Http, Manager, Stats, set_up  # noqa: E402
from benchmarks.load_queues import drain  # noqa: E402
from benchmarks.load_report import Options, Report, render, summarise  # noqa: E402
from scripts.made_up_phone import make_people  # noqa: E402


# ----------------------------------------------------------------------------------------------
# The run.
# ----------------------------------------------------------------------------------------------
def run(opts: Options, log=print) -> Report:
    from tests.topology import Topology

    say = (lambda *_: None) if opts.quiet else log
    report = Report(opts)
    t0 = time.monotonic()
    fcm = LoadFcm()
    topo = Topology(web_workers=opts.web_workers, web_threads=opts.web_threads, rq_workers=opts.rq_workers,
                    env={"FCM_CREDENTIALS": "token:load-test", "FCM_PROJECT_ID": fcm.project, "FCM_URL": fcm.url,
                         "FCM_HTTP_TIMEOUT": "10"}, start_timeout=120, keep_logs=opts.keep_logs)
    prometheus_dir = topo.dir / "prometheus"
    prometheus_dir.mkdir()
    topo.extra_env["PROMETHEUS_MULTIPROC_DIR"] = str(prometheus_dir)
    try:
        topo.__enter__()
        report.timings["start"] = time.monotonic() - t0
        report.facts["load_average_before"] = [round(x, 1) for x in os.getloadavg()]
        stats = Stats()
        http = Http(topo.base_url, stats)
        people = make_people(300 + 40 * opts.phones, seed=opts.seed)
        t1 = time.monotonic()
        world = set_up(topo, http, opts, people, say)
        report.timings["setup"] = time.monotonic() - t1
        org, phones = world["org"], world["phones"]
        rep_ids = [p.user_id for p in phones]
        managers = [Manager(http, m["token"], rep_ids, opts.seed * 31 + i, think_s=opts.think)
                    for i, m in enumerate(world["managers"])]
        metrics0 = scrape_metrics(topo.base_url)
        fcm.reset()
        fcm.answers.clear()

        driver = FaultDriver(topo, fcm, phones, opts.seconds, say) if opts.faults else None
        stats.phase = "load"
        load_start, load_started = time.monotonic(), time.time()
        load_end = load_start + opts.seconds
        flush_end = load_end + opts.flush_seconds
        threads = [threading.Thread(target=p.run, args=(load_end, flush_end), daemon=True, name=f"phone-{p.index}")
                   for p in phones]
        threads += [threading.Thread(target=m.run, args=(load_end,), daemon=True, name=f"manager-{i}")
                    for i, m in enumerate(managers)]
        say(f"load: {len(phones)} phones and {len(managers)} managers for {opts.seconds:.0f}s"
            + (" with faults" if opts.faults else ""))
        for thread in threads:
            thread.start()
        fault_thread = None
        if driver:
            fault_thread = threading.Thread(target=driver.run, daemon=True, name="faults")
            fault_thread.start()
        for thread in threads:
            thread.join(max(1.0, flush_end + 90 - time.monotonic()))
        stuck_threads = [t.name for t in threads if t.is_alive()]
        report.timings["load"] = opts.seconds
        report.timings["load+flush"] = time.monotonic() - load_start
        stats.phase = "done"
        if driver:
            driver.stop()
            fault_thread.join(30)
            report.events = driver.events
            topo.ensure_workers(60)
            topo.wait_healthy(60)
        t2 = time.monotonic()
        drained = drain(topo, org, faults=opts.faults, timeout=opts.drain_timeout, log=say)
        report.timings["drain"] = time.monotonic() - t2
        t3 = time.monotonic()
        metrics1 = scrape_metrics(topo.base_url)
        checks, facts = check_invariants(topo, fcm, org, phones, stats, metrics0, metrics1, drained,
                                         faults=opts.faults, driver=driver, load_started=load_started)
        facts["log_evidence"] = log_evidence(topo)
        facts["failed_job_kinds"] = dict(Counter(j.split(": ", 2)[-1][:120] for j in facts["failed_jobs"]))
        if stuck_threads:
            checks.append(Check("every simulated client finished in time", False, f"still running: {stuck_threads}"))
        report.timings["checks"] = time.monotonic() - t3
        facts["load_average_before"] = report.facts.get("load_average_before")
        facts["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
        report.checks, report.facts = checks, facts
        totals = Counter()
        for p in phones:
            for key in ("accepted", "duplicates", "rejected", "batches_ok", "batches_retried", "given_up"):
                totals[key] += getattr(p.totals, key)
        facts["phone_totals"] = dict(totals)
        facts["manager_decisions"] = dict(sum((m.decisions for m in managers), Counter()))
        facts["manager_decisions"] = {f"{a} {s}": n for (a, s), n in sorted(facts["manager_decisions"].items())}
        if driver:
            facts["worker_restarts"] = driver.worker_restarts
        report.endpoints, report.errors, _ = summarise(stats, opts.seconds)
        if not report.ok:
            report.logs = service_log_excerpt(topo)
    finally:
        topo.close()
        fcm.close()
        report.timings["total"] = time.monotonic() - t0
    report.text = render(report)
    if opts.keep_logs:
        report.text += f"\nservice logs kept in {topo.dir}"
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, help="simulated phones (default 50; --quick 10)")
    parser.add_argument("--seconds", type=float, help="length of the load (default 60; --quick 20, 35 with --faults)")
    parser.add_argument("--faults", action="store_true", help="kill a worker, restart Redis and PostgreSQL, FCM storms")
    parser.add_argument("--quick", action="store_true", help="a short run (what the test suite runs)")
    parser.add_argument("--managers", type=int, default=2)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a phone's actions")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, help="seconds to wait for the queues (default 180; --quick 90)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs (the path is printed)")
    args = parser.parse_args(argv)
    quick = args.quick
    opts = Options(phones=args.phones or (10 if quick else 50),
                   seconds=args.seconds or ((35 if args.faults else 20) if quick else 60),
                   faults=args.faults, managers=args.managers, think=args.think, web_workers=args.web_workers,
                   web_threads=args.web_threads, rq_workers=args.rq_workers,
                   drain_timeout=args.drain_timeout or (90 if quick else 180), seed=args.seed,
                   keep_logs=args.keep_logs)
    try:
        report = run(opts)
    except BaseException as err:  # tests.servers skips (raises) when a server is missing
        if isinstance(err, KeyboardInterrupt):
            raise
        print(f"the run could not be made: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(report.text)
    if not report.ok and report.logs:
        print("\nlast lines of the service logs:\n" + report.logs)
    if args.json:
        args.json.write_text(json.dumps({
            "options": opts.__dict__, "ok": report.ok, "timings": report.timings, "endpoints": report.endpoints,
            "errors": {str(k): v for k, v in report.errors.items()}, "events": report.events,
            "checks": [c.__dict__ for c in report.checks],
            "facts": json.loads(json.dumps(report.facts, default=str))}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
