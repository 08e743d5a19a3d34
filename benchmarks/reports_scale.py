"""The reports at 10k, 100k and 1M calls, on the embedded default (SQLite,
what `scripts/run` serves) and on PostgreSQL: do the rollups' reads stay
flat as the calls grow?

    .venv/bin/python -m benchmarks.reports_scale [--sizes 10000,100000,1000000]
                                                 [--databases sqlite,postgresql] [--lock /tmp/bench.lock]

For each database and size, a fresh database: one organisation (zone
Asia/Kolkata), 50 reps (a fifth with office hours), N calls spread over the
90 days of the range, N/100 leads with call backs, written in bulk (as a
restore would; the upload and processing are measured by `benchmarks.
ingest` and `benchmarks.reports_ingest`); the leads' first responses and the
rollups made by the service's own functions (`refresh_first_responses`,
`rebuild_reports`). Then each report over the 90 days through its domain
function, as `benchmarks.reports` times them (`time_reports`: what the
view has done first untimed; the calls report per user, and per user and
day, also over HTTP), and the fixed reference in the same run: the same
report computed from the raw rows by a naive baseline (`naive_reports`:
the range's calls read and grouped in Python, each missed call's call back
and each lead's first response found by bisecting its number's calls;
nothing of the service's own but the tables).

The range's user-days saturate at 50 x 90 = 4,500, so the rollups' reads
should not grow with N; the baseline's grow with it.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from statistics import median
from zoneinfo import ZoneInfo

from benchmarks.reports import measuring, time_reports
from benchmarks.reports_raw import _p
from benchmarks.reports_seed import TYPES, ZONE, _number, seed_team

REPS = 50
DAYS = 90


def seed(app, calls: int, rng: random.Random, now: datetime) -> dict:
    """The organisation, its reps, phones and consent; `calls` calls over
    the last DAYS days, processed; leads with their call backs; the
    first responses and rollups made by the service."""
    from sqlalchemy import insert

    from mobile_sync.reports.rebuild import rebuild_reports
    from mobile_sync.store.lead_figures import refresh_first_responses
    from mobile_sync.store.models import Call, Lead
    from server.extensions import db

    with app.app_context():
        session = db.session
        team = seed_team(session, reps=REPS, domain="scale.test")
        reps = list(zip(team["users"], team["devices"]))
        org_id = team["org"]
        shared = [_number(rng) for _ in range(2_000)]
        books = {user_id: [_number(rng) for _ in range(270)] + rng.sample(shared, 30) for user_id, _ in reps}
        start = now - timedelta(days=DAYS)
        span = DAYS * 86400 - 1
        rows = []
        for k in range(calls):
            user_id, device_id = reps[k % REPS]
            when = start + timedelta(seconds=rng.randrange(span))
            kind = rng.choice(TYPES)
            number = rng.choice(books[user_id])
            rows.append({"organization_id": org_id, "device_id": device_id, "user_id": user_id, "android_id": k,
                         "date_ms": int(when.timestamp() * 1000), "started_at": when,
                         "duration_s": int(rng.expovariate(1 / 150)) + 1 if kind in (1, 2, 7) and rng.random() < 0.8
                         else 0, "call_type": kind, "presentation": 1, "raw_number": number, "e164": number,
                         "number_status": "ok", "created_at": when, "processed_at": when, "outcome": "unmatched"})
            if len(rows) == 20_000:
                session.execute(insert(Call), rows)
                rows = []
        leads, backs = [], []
        for k in range(max(100, calls // 100)):
            number = _number(rng)
            created = start + timedelta(seconds=rng.randrange(span))
            user_id, device_id = rng.choice(reps)
            leads.append({"organization_id": org_id, "name": f"Lead {k}", "phone": number,
                          "source": rng.choice(["phone_call"] * 6 + ["expo", "web", "google-ads"]),
                          "status": rng.choice(["pending_review", "approved", "approved", "rejected", "merged"]),
                          "owner_id": user_id, "created_at": created, "updated_at": created,
                          "first_call_at": created, "calls_count": 1})
            if rng.random() < 0.8:
                when = min(created + timedelta(seconds=int(rng.expovariate(1 / 20000))), now)
                backs.append({"organization_id": org_id, "device_id": device_id, "user_id": user_id,
                              "android_id": 10**9 + k, "date_ms": int(when.timestamp() * 1000), "started_at": when,
                              "duration_s": 30, "call_type": 2, "presentation": 1, "raw_number": number,
                              "e164": number, "number_status": "ok", "created_at": when, "processed_at": when,
                              "outcome": "matched_lead"})
        session.execute(insert(Call), rows + backs)
        session.execute(insert(Lead), leads)
        session.commit()
        refresh_first_responses(session, org_id)
        rebuild_reports(session, org_id)
        session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
    return {"org": org_id, "token": team["token"]}


def _bounds(first, last) -> tuple[datetime, datetime]:
    zone = ZoneInfo(ZONE)
    return (datetime.combine(first, datetime.min.time(), zone).astimezone(timezone.utc),
            datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).astimezone(timezone.utc))


def _range_calls(session, org_id: int, start: datetime, end: datetime) -> list:
    from sqlalchemy import select

    from mobile_sync.store.models import Call

    return session.execute(select(Call.user_id, Call.started_at, Call.call_type, Call.duration_s, Call.e164).where(
        Call.organization_id == org_id, Call.started_at >= start, Call.started_at < end,
        Call.processed_at.is_not(None))).all()


def _calls_after(session, org_id: int, start: datetime, returning: bool) -> dict[str, list]:
    """Per number, the times of the calls from `start` on that return a
    missed call (outgoing, or answered and connected), or that are outgoing."""
    from sqlalchemy import select

    from mobile_sync.store.models import Call

    found: dict[str, list] = defaultdict(list)
    for number, at, kind, duration in session.execute(select(Call.e164, Call.started_at, Call.call_type,
                                                             Call.duration_s).where(
            Call.organization_id == org_id, Call.started_at >= start,
            Call.processed_at.is_not(None)).order_by(Call.started_at)):
        if kind == 2 or (returning and kind == 1 and duration > 0):
            found[number].append(at)
    return found


def _naive_calls(key_of):
    def report(session, org_id: int, start: datetime, end: datetime) -> list:
        zone = ZoneInfo(ZONE)
        figures: dict = defaultdict(lambda: [0, 0, 0, 0, 0, 0, set()])
        for user, at, kind, duration, number in _range_calls(session, org_id, start, end):
            item = figures[key_of(user, at.astimezone(zone).date())]
            index = {1: 0, 2: 1, 3: 2, 5: 3, 6: 3}.get(kind)
            if index is not None:
                item[index] += 1
            if kind in (1, 2) and duration > 0:
                item[4] += 1
                item[5] += duration
            item[6].add(number)
        return [(key, *item[:6], len(item[6])) for key, item in sorted(figures.items())]
    return report


def _naive_missed(session, org_id: int, start: datetime, end: datetime) -> list:
    later = _calls_after(session, org_id, start, returning=True)
    missed: dict = defaultdict(list)
    for user, at, kind, _duration, number in _range_calls(session, org_id, start, end):
        if kind == 3:
            backs = later.get(number, ())
            i = bisect_left(backs, at + timedelta(microseconds=1))
            missed[user].append((backs[i] - at).total_seconds() if i < len(backs) else None)
    return [(user, len(delays), median([d for d in delays if d is not None] or [0]))
            for user, delays in sorted(missed.items())]


def _naive_leads(session, org_id: int, start: datetime, end: datetime) -> list:
    from sqlalchemy import select

    from mobile_sync.store.models import Lead

    outgoing = _calls_after(session, org_id, start - timedelta(days=DAYS), returning=False)
    sources: dict = defaultdict(list)
    for source, status, number, since in session.execute(select(Lead.source, Lead.status, Lead.phone,
                                                                Lead.first_call_at).where(
            Lead.organization_id == org_id, Lead.created_at >= start, Lead.created_at < end)):
        answers = outgoing.get(number, ())
        i = bisect_left(answers, since)
        sources[source].append((status, (answers[i] - since).total_seconds() if i < len(answers) else None))
    return [(source, len(leads), median([d for _s, d in leads if d is not None] or [0]))
            for source, leads in sorted(sources.items())]


# The fixed reference: each report computed from the raw rows in Python, as
# a first version without rollups would (the tables are the service's, the
# computation the baseline's own), in `time_reports`' names.
NAIVE = {"calls by user and day": _naive_calls(lambda user, day: (user, day)),
         "calls by user": _naive_calls(lambda user, day: user),
         "calls by day": _naive_calls(lambda user, day: day),
         "missed": _naive_missed, "leads": _naive_leads}


def time_naive(app, org_id: int, first, last, repeat: int) -> dict:
    from server.extensions import db

    start, end = _bounds(first, last)
    out = {}
    with app.app_context():
        for name, report in NAIVE.items():
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                report(db.session, org_id, start, end)
                times.append(time.perf_counter() - started)
                db.session.rollback()
            out[name] = _p(times, 0.5)
    return out


def run(database: str, calls: int, args, now: datetime) -> list[tuple]:
    from server.garbage_collection import settle_long_lived_process
    from tests.conftest import build_test_app

    server = None
    data = tempfile.mkdtemp(prefix="bench-reports-scale-")
    if database == "postgresql":
        from tests.servers import PostgresServer

        server = PostgresServer()
        url = server.url
    else:
        url = "sqlite:///" + os.path.join(data, "callsync.db")
    try:
        app = build_test_app(url, data, REDIS_URL=None)
        settle_long_lived_process()  # as gunicorn's workers (`benchmarks.reports`)
        started = time.perf_counter()
        world = seed(app, calls, random.Random(args.seed), now)
        print(f"{database} {calls:,}: seeded with rollups in {time.perf_counter() - started:.0f} s", flush=True)
        last = now.astimezone(ZoneInfo(ZONE)).date()
        first = last - timedelta(days=DAYS - 1)
        with measuring(args.lock):
            load = os.getloadavg()[0]
            fast = time_reports(app, world, first, last, args.repeat)
            naive = time_naive(app, world["org"], first, last, args.naive_repeat)
        return [(database, calls, name, figures["items"], figures["p50"], figures["p99"],
                 naive.get(name.replace("HTTP ", "")), load) for name, figures in fast.items()]
    finally:
        if server:
            server.close()
        shutil.rmtree(data, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--naive-repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--lock", metavar="FILE", help="hold an flock on FILE while measuring (not while seeding)")
    args = parser.parse_args(argv)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    results = []
    for database in args.databases.split(","):
        for calls in (int(size) for size in args.sizes.split(",")):
            results += run(database, calls, args, now)
    print(f"\n{'database':<11}{'calls':>10}  {'report':<28}{'items':>7}{'p50':>9}{'p99':>9}"
          f"{'naive p50':>11}{'x (p50)':>9}{'load':>6}")
    for database, calls, name, items, p50, p99, naive, load in results:
        ratio = f"{naive / p50:>8.0f}x" if naive else " " * 9
        print(f"{database:<11}{calls:>10,}  {name:<28}{items:>7}{p50 * 1000:>7.1f}ms{p99 * 1000:>7.1f}ms"
              f"{naive * 1000 if naive else 0:>9.0f}ms{ratio}{load:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
