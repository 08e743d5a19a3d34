"""Reports at scale, on PostgreSQL, in one run (issue 19).

    .venv/bin/python -m benchmarks.reports            # 10M calls, 500 reps, 2 years
    .venv/bin/python -m benchmarks.reports --quick    # 1M calls, 500 reps
    .venv/bin/python -m benchmarks.reports --keep /var/tmp/bench-reports-10m   # seed once, reuse after

With `--keep DIR` the PostgreSQL cluster lives in DIR and is reused by the
next run with the same DIR (the seeded calls and leads; the rollup tables
are dropped, made again from the models and rebuilt, so a changed rollup
design is measured on the same calls). `--seed-only` stops after seeding.

1. Seeds one organisation: reps with phones (a fifth with office hours),
   calls over two years written with COPY (psycopg), leads; then fills the
   rollups with the service's own `rebuild_reports` and runs VACUUM ANALYZE.
2. Each report over the latest 90 days, answered by its domain function
   (`mobile_sync.reports.figures`, what the API view calls), `--repeat`
   times: p50 and p99. The HTTP path (Flask's test client, bearer token,
   JSON) is timed too, for the calls report grouped by user.
3. The same report computed from the raw calls (one SQL statement over the
   range, as a report without rollups would: GROUP BY with count(DISTINCT),
   a LATERAL probe per missed call, percentile_cont), a few times, and the
   ratio of medians and of p99s.
4. Ingest: batches of 1,000 new calls uploaded (`ingest_calls`) and then
   processed (`process_upload`) with and without the rollup hook, alternated
   batch by batch; rows/s of processing and of upload+processing, by wall
   clock (one connection: the app's and the database's work are serial, so
   this is per core) and by the app's CPU.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import random
import sys
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

ZONE = "Asia/Kolkata"
HOURS = {"days": [0, 1, 2, 3, 4, 5], "start": "09:30", "end": "18:30"}
TYPES = [1] * 30 + [2] * 45 + [3] * 15 + [5] * 4 + [6] * 1 + [4] * 2 + [7] * 3


def _p(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _number(rng: random.Random) -> str:
    return f"+91{rng.choice('6789')}{rng.randrange(10**9):09d}"


def seed(app, pg, *, calls: int, reps: int, days: int, rng: random.Random, now: datetime) -> dict:
    """The organisation, its reps and phones, calls (COPY) and leads (COPY)."""
    from mobile_sync.accounts import create_user, issue_user_token
    from mobile_sync.store.models import ConsentState, Device, Organization, User
    from server.extensions import db

    with app.app_context():
        session = db.session
        org = Organization(name="Bench Traders", region="IN", plan="business", settings={"timezone": ZONE})
        session.add(org)
        session.flush()
        manager = create_user(session, organization_id=org.id, name="Meera Manager", email="meera@bench.test",
                              password="correct horse battery", role="manager")
        token = issue_user_token(session, manager)
        users, devices = [], []
        for i in range(reps):
            user = User(organization_id=org.id, name=f"Rep {i}", email=f"rep{i}@bench.test", password_hash="x",
                        role="rep", office_hours=HOURS if i % 5 == 0 else None)
            session.add(user)
            session.flush()
            device = Device(organization_id=org.id, user_id=user.id, platform="android")
            session.add(device)
            session.flush()
            session.add(ConsentState(organization_id=org.id, device_id=device.id, scope="call_log", granted=True,
                                     policy_version="bench"))
            users.append(user.id)
            devices.append(device.id)
        session.commit()
        org_id, manager_id = org.id, manager.id
    # Each rep works a book of ~1,500 clients; a tenth of every book is shared with the whole team.
    shared = [_number(rng) for _ in range(20_000)]
    started = time.perf_counter()
    per_rep = calls // reps
    span = days * 86400
    start = now - timedelta(days=days)
    buffer = io.StringIO()
    written = 0
    books = []
    with pg.cursor() as cursor:
        # The calls' indexes are built once after the load (as a restore would), not row by row.
        indexes = cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'calls' AND indexname "
                                 "NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'calls'::regclass)").fetchall()
        uniques = cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                 "WHERE conrelid = 'calls'::regclass AND contype = 'u'").fetchall()
        for name, _definition in uniques:
            cursor.execute(f"ALTER TABLE calls DROP CONSTRAINT {name}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
        with cursor.copy("COPY calls (organization_id, device_id, user_id, android_id, date_ms, started_at, "
                         "duration_s, call_type, presentation, raw_number, e164, number_status, created_at, "
                         "processed_at, outcome) FROM STDIN") as copy:
            # Strings made by hand, not by datetime: 10M rows are written in a few minutes.
            start = start.replace(hour=0, minute=0, second=0)
            start_ms = int(start.timestamp() * 1000)
            day_names = [(start + timedelta(days=d)).date().isoformat() for d in range(days + 2)]
            choice, random_, expovariate = rng.choice, rng.random, rng.expovariate
            for r, (user_id, device_id) in enumerate(zip(users, devices)):
                write = buffer.write
                book = [_number(rng) for _ in range(1350)] + rng.sample(shared, 150)
                books.append(book)
                moments = sorted(rng.randrange(span) for _ in range(per_rep))
                for k, offset in enumerate(moments):
                    kind = choice(TYPES)
                    talked = kind in (1, 2, 7) and random_() < 0.8
                    duration = int(expovariate(1 / 150)) + 1 if talked else 0
                    day, second = divmod(offset, 86400)
                    hour, second = divmod(second, 3600)
                    when = f"{day_names[day]} {hour:02d}:{second // 60:02d}:{second % 60:02d}+00"
                    number = choice(book)
                    write(f"{org_id}\t{device_id}\t{user_id}\t{k}\t{start_ms + offset * 1000}\t{when}\t{duration}\t"
                          f"{kind}\t1\t{number}\t{number}\tok\t{when}\t{when}\tunmatched\n")
                written += per_rep
                if buffer.tell() > 8_000_000 or r == reps - 1:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
                    write = buffer.write
                if r % 50 == 49:
                    print(f"  seeded {written:,} calls ({time.perf_counter() - started:.0f} s)", flush=True)
        # Leads: one per number first called in, about a tenth of the calls' numbers, over the two years.
        leads = []
        seen = set()
        for _ in range(max(1000, calls // 100)):
            number = _number(rng)
            if number in seen:
                continue
            seen.add(number)
            created = start + timedelta(seconds=rng.randrange(span))
            leads.append((org_id, number, rng.choice(["phone_call"] * 6 + ["expo", "web", "google-ads"]),
                          rng.choice(["pending_review", "approved", "approved", "rejected", "merged"]),
                          rng.choice(users), created))
        with cursor.copy("COPY leads (organization_id, name, phone, source, status, owner_id, created_at, updated_at, "
                         "first_call_at, calls_count) FROM STDIN") as copy:
            for org_id_, number, source, status, owner, created in leads:
                copy.write(f"{org_id_}\tLead {number[-4:]}\t{number}\t{source}\t{status}\t{owner}\t"
                           f"{created.isoformat()}\t{created.isoformat()}\t{created.isoformat()}\t1\n")
        # Their numbers get calls back: an outgoing call some minutes to days later, for most.
        with cursor.copy("COPY calls (organization_id, device_id, user_id, android_id, date_ms, started_at, "
                         "duration_s, call_type, presentation, raw_number, e164, number_status, created_at, "
                         "processed_at, outcome) FROM STDIN") as copy:
            for k, (_org, number, _s, _st, owner, created) in enumerate(leads):
                if rng.random() < 0.8:
                    when = min(created + timedelta(seconds=int(rng.expovariate(1 / 20000))), now)
                    device_id = devices[users.index(owner)]
                    copy.write(f"{org_id}\t{device_id}\t{owner}\t{10**9 + k}\t{int(when.timestamp() * 1000)}\t"
                               f"{when.isoformat()}\t30\t2\t1\t{number}\t{number}\tok\t{when.isoformat()}\t"
                               f"{when.isoformat()}\tmatched_lead\n")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for name, definition in indexes:
            cursor.execute(definition)
        for name, definition in uniques:
            cursor.execute(f"ALTER TABLE calls ADD CONSTRAINT {name} {definition}")
    pg.commit()
    seconds = time.perf_counter() - started
    print(f"seeded {written:,} calls and {len(leads):,} leads in {seconds:.0f} s", flush=True)
    return {"org": org_id, "manager": manager_id, "token": token, "users": users, "devices": devices,
            "books": books}


def kept_server(directory: str):
    """A durable PostgreSQL cluster in `directory`, made on first use and
    started again (not re-initialised) by later runs."""
    from tests.servers import PostgresServer, free_port

    if not os.path.exists(os.path.join(directory, "data", "PG_VERSION")):
        server = PostgresServer(durable=True)
        server.stop()
        os.makedirs(os.path.dirname(os.path.abspath(directory)), exist_ok=True)
        shutil.move(server.dir, directory)
    server = PostgresServer.__new__(PostgresServer)
    server.durable, server.dir, server.data = True, directory, os.path.join(directory, "data")
    from tests.servers import _pg_bindir
    server.bindir, server.port = _pg_bindir(), free_port()
    server.user = None
    if os.geteuid() == 0:
        import pwd
        server.user = pwd.getpwnam("postgres")
    server.start()
    server.close = server.stop  # keep the files
    return server


_DESIGN = ("mobile_sync/store/models/reports.py", "mobile_sync/reports/rollup.py", "mobile_sync/reports/missed_rollup.py",
           "mobile_sync/store/rollups.py", "mobile_sync/store/rollup_missed.py")


def _rollup_design() -> str:
    """A digest of the rollups' code: kept rollups are reused only if it is unchanged."""
    digest = hashlib.sha256()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for path in _DESIGN:
        if os.path.exists(os.path.join(root, path)):
            with open(os.path.join(root, path), "rb") as source:
                digest.update(source.read())
    return digest.hexdigest()


def _rollups_current(directory: str) -> bool:
    marker = os.path.join(directory, "rollups.version")
    if not os.path.exists(marker):
        return False
    with open(marker) as stored:
        return stored.read() == _rollup_design()


@contextlib.contextmanager
def measuring(lock_path: str | None):
    """Hold an exclusive flock on `lock_path` (shared by every benchmark on
    the machine) while the block measures."""
    if not lock_path:
        yield
        return
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def forget_ingest(app, pg, org_id: int, *, through_hook: bool) -> None:
    """Remove an earlier run's ingest batches: through the service's own
    deletion (the rollups follow) when the rollups are kept, else by SQL."""
    from sqlalchemy import delete

    from mobile_sync.store.models import Call, SyncUpload
    from server.extensions import db

    if through_hook:
        with app.app_context():
            db.session.execute(delete(Call).where(Call.organization_id == org_id, Call.android_id >= 2 * 10**9)
                               .execution_options(all_organizations=True))
            db.session.execute(delete(SyncUpload).where(SyncUpload.batch_id.like("bench-%"))
                               .execution_options(all_organizations=True))
            db.session.commit()
        return
    pg.execute("DELETE FROM calls WHERE android_id >= 2000000000")
    pg.execute("DELETE FROM sync_uploads WHERE batch_id LIKE 'bench-%%'")
    pg.commit()


def remake_rollup_tables(app) -> None:
    """Drop the (derived) rollup tables and make them from today's models."""
    from mobile_sync.store.models import reports as report_models
    from server.extensions import db

    tables = [t for t in db.metadata.sorted_tables if t.name.startswith("report_")]
    with app.app_context():
        for table in reversed(tables):
            table.drop(db.engine, checkfirst=True)
        for table in tables:
            table.create(db.engine, checkfirst=True)
    del report_models


def build_rollups(app, org_id: int) -> float:
    from mobile_sync.reports.rollup import rebuild_reports
    from server.extensions import db

    started = time.perf_counter()
    with app.app_context():
        rebuild_reports(db.session, org_id)
        db.session.commit()
    return time.perf_counter() - started


# The same reports from the raw calls: what a report without rollups runs.
RAW_CALLS = """
SELECT user_id, (started_at AT TIME ZONE %(zone)s)::date AS day,
       count(*) FILTER (WHERE call_type = 1) AS incoming, count(*) FILTER (WHERE call_type = 2) AS outgoing,
       count(*) FILTER (WHERE call_type = 3) AS missed, count(*) FILTER (WHERE call_type IN (5, 6)) AS rejected,
       count(*) FILTER (WHERE call_type IN (1, 2) AND duration_s > 0) AS connected,
       coalesce(sum(duration_s) FILTER (WHERE call_type IN (1, 2) AND duration_s > 0), 0) AS talk_seconds,
       count(DISTINCT e164) AS unique_numbers
FROM calls WHERE organization_id = %(org)s AND started_at >= %(start)s AND started_at < %(end)s
  AND processed_at IS NOT NULL
GROUP BY {group}
"""
RAW_MISSED = """
SELECT m.user_id, count(*) AS missed, count(back.started_at) AS returned,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM back.started_at - m.started_at))
FROM calls m
LEFT JOIN LATERAL (
  SELECT c.started_at FROM calls c
  WHERE c.organization_id = m.organization_id AND c.e164 = m.e164 AND c.started_at > m.started_at
    AND (c.call_type = 2 OR (c.call_type = 1 AND c.duration_s > 0))
  ORDER BY c.started_at LIMIT 1) back ON true
WHERE m.organization_id = %(org)s AND m.call_type = 3 AND m.started_at >= %(start)s AND m.started_at < %(end)s
  AND m.processed_at IS NOT NULL
GROUP BY m.user_id
"""
RAW_LEADS = """
SELECT l.source, count(*), count(*) FILTER (WHERE l.status = 'approved'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.first - coalesce(l.first_call_at, l.created_at)))
FROM leads l LEFT JOIN LATERAL (
  SELECT min(c.started_at) AS first FROM calls c WHERE c.organization_id = l.organization_id AND c.e164 = l.phone
    AND c.call_type = 2 AND c.started_at >= coalesce(l.first_call_at, l.created_at)) r ON true
WHERE l.organization_id = %(org)s AND l.created_at >= %(start)s AND l.created_at < %(end)s
GROUP BY l.source
"""


def time_reports(app, world: dict, first, last, repeat: int) -> dict:
    from mobile_sync.reports import figures
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
                started = time.perf_counter()
                items = run(db.session)
                times.append(time.perf_counter() - started)
                db.session.rollback()
            out[name] = {"p50": _p(times, 0.5), "p99": _p(times, 0.99), "items": len(items)}
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world['token']}"}
    times = []
    for i in range(repeat + 1):
        started = time.perf_counter()
        response = client.get("/api/v1/reports/calls", headers=headers,
                              query_string={"from": first.isoformat(), "to": last.isoformat(), "group": "user"})
        if i:
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    out["HTTP calls by user"] = {"p50": _p(times, 0.5), "p99": _p(times, 0.99), "items": len(response.json["items"])}
    return out


def time_raw(pg, world: dict, first, last, repeat: int) -> dict:
    zone = ZoneInfo(ZONE)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    params = {"org": world["org"], "start": start, "end": end, "zone": ZONE}
    statements = {
        "calls by user and day": RAW_CALLS.format(group="user_id, day"),
        "calls by user": RAW_CALLS.replace(", (started_at AT TIME ZONE %(zone)s)::date AS day", "").format(
            group="user_id"),
        "calls by day": RAW_CALLS.replace("SELECT user_id, ", "SELECT ").format(group="day"),
        "missed": RAW_MISSED,
        "leads": RAW_LEADS,
    }
    out = {}
    for name, sql in statements.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            rows = pg.execute(sql, params).fetchall()
            times.append(time.perf_counter() - started)
        pg.rollback()
        out[name] = {"p50": _p(times, 0.5), "p99": _p(times, 0.99), "items": len(rows)}
    return out


def time_ingest(app, world: dict, batches: int, rng: random.Random, now: datetime) -> dict:
    """Upload then process batches of 1,000 calls, alternating with and
    without the rollup hook; rows/s by wall clock and by this process's CPU."""
    import mobile_sync.process_calls as processing
    from mobile_sync.process_calls import process_upload
    from mobile_sync.store.models import Device, Organization, User
    from server.extensions import db

    hook = processing.record_processed_calls
    results = {True: {"rows": 0, "process_wall": 0.0, "process_cpu": 0.0, "total_wall": 0.0},
               False: {"rows": 0, "process_wall": 0.0, "process_cpu": 0.0, "total_wall": 0.0}}
    from mobile_sync.ingest_calls import ingest_calls

    with app.app_context():
        hash_key = app.config["HASH_KEY"]
        for b in range(batches * 2):
            with_hook = b % 2 == 0 if (b // 2) % 2 == 0 else b % 2 == 1  # ABBA: neither side always goes first
            index = rng.randrange(len(world["users"]))
            user = db.session.get(User, world["users"][index])
            device = db.session.get(Device, world["devices"][index])
            org = db.session.get(Organization, world["org"])
            base = now - timedelta(days=rng.randint(0, 6))
            rows = []
            for k in range(1000):
                when = base - timedelta(seconds=rng.randrange(86400 * 3))
                kind = rng.choice(TYPES)
                # Seven in ten calls are with the rep's own clients (call backs happen), the rest new numbers.
                number = rng.choice(world["books"][index]) if rng.random() < 0.7 else _number(rng)
                rows.append({"_id": 2 * 10**9 + b * 1000 + k, "number": number, "date": int(when.timestamp() * 1000),
                             "duration": rng.randint(1, 300) if kind in (1, 2) else 0, "type": kind,
                             "presentation": 1, "countryiso": "IN", "name": None, "via_number": "",
                             "subscription_id": None, "last_modified": int(when.timestamp() * 1000)})
            t0 = time.perf_counter()
            result = ingest_calls(db.session, device=device, user=user, org=org, batch_id=f"bench-{b}", rows=rows,
                                  now=now, hash_key=hash_key)
            db.session.commit()
            processing.record_processed_calls = hook if with_hook else (lambda *args, **kwargs: 0)
            t1, c1 = time.perf_counter(), time.process_time()
            process_upload(db.session, result.upload_id, now, hash_key, alone=True)
            db.session.commit()
            t2, c2 = time.perf_counter(), time.process_time()
            processing.record_processed_calls = hook
            side = results[with_hook]
            side["rows"] += result.accepted
            side["process_wall"] += t2 - t1
            side["process_cpu"] += c2 - c1
            side["total_wall"] += t2 - t0
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--quick", action="store_true", help="1M calls")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--raw-repeat", type=int, default=5)
    parser.add_argument("--ingest-batches", type=int, default=20, help="batches of 1,000 calls per side")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--keep", metavar="DIR", help="keep the seeded cluster in DIR; reuse it if seeded already")
    parser.add_argument("--seed-only", action="store_true", help="stop after seeding (with --keep)")
    parser.add_argument("--rebuild-only", action="store_true", help="stop after building the rollups")
    parser.add_argument("--reuse-rollups", action="store_true",
                        help="with --keep: reuse the kept rollups even if their code changed (same tables)")
    parser.add_argument("--lock", metavar="FILE", help="hold an flock on FILE while measuring (not while seeding)")
    args = parser.parse_args(argv)
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
        pg.autocommit = True
        if not reuse:
            pg.execute("VACUUM ANALYZE calls")
            pg.execute("VACUUM ANALYZE leads")
            seconds = build_rollups(app, world["org"])
            for table in ("report_call_days", "report_org_days", "report_missed_calls"):
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

        print(f"\ningest: {args.ingest_batches} batches of 1,000 calls per side, alternated (ABBA)")
        with measuring(args.lock):
            ingest = time_ingest(app, world, args.ingest_batches, rng, now)
            print(f"  load average after ingest: {os.getloadavg()}", flush=True)
        for with_hook in (False, True):
            side = ingest[with_hook]
            label = "with rollups" if with_hook else "without"
            print(f"  {label:<13} processing {side['rows'] / side['process_wall']:>8,.0f} rows/s wall, "
                  f"{side['rows'] / side['process_cpu']:>8,.0f} rows/s app CPU; upload+processing "
                  f"{side['rows'] / side['total_wall']:>8,.0f} rows/s wall")
        off, on = ingest[False], ingest[True]
        for key, label in (("process_wall", "processing, wall"), ("process_cpu", "processing, app CPU"),
                           ("total_wall", "upload+processing, wall")):
            cost = 1 - (on["rows"] / on[key]) / (off["rows"] / off[key])
            print(f"  rollup cost, {label}: {cost * 100:.1f}% of rows/s")
        pg.close()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
