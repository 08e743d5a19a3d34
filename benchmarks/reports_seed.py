"""The reports benchmark's world (`benchmarks.reports`): one organisation
seeded with COPY (reps, phones, calls over two years, leads and their call
backs), a kept PostgreSQL cluster to reuse between runs, the rollups made
from the calls, and the leads' first responses worked out on a kept cluster
that predates them. Processing timed with and without the reports' hook is
`benchmarks.ingest_batches`."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import random
import shutil
import time
from datetime import datetime, timedelta

ZONE = "Asia/Kolkata"
HOURS = {"days": [0, 1, 2, 3, 4, 5], "start": "09:30", "end": "18:30"}
TYPES = [1] * 30 + [2] * 45 + [3] * 15 + [5] * 4 + [6] * 1 + [4] * 2 + [7] * 3


def _number(rng: random.Random) -> str:
    return f"+91{rng.choice('6789')}{rng.randrange(10**9):09d}"


def seed_team(session, *, reps: int, domain: str = "bench.test") -> dict:
    """An organisation in ZONE, its manager (with a token) and `reps` reps
    (a fifth with office hours), each with a phone that consented to its
    call log: {org, manager, token, users, devices} (ids)."""
    from mobile_sync.accounts import create_user, issue_user_token
    from mobile_sync.store.models import ConsentState, Device, Organization, User

    org = Organization(name="Bench Traders", region="IN", plan="business", settings={"timezone": ZONE})
    session.add(org)
    session.flush()
    manager = create_user(session, organization_id=org.id, name="Meera Manager", email=f"meera@{domain}",
                          password="correct horse battery", role="manager")
    token = issue_user_token(session, manager)
    users, devices = [], []
    for i in range(reps):
        user = User(organization_id=org.id, name=f"Rep {i}", email=f"rep{i}@{domain}", password_hash="x",
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
    return {"org": org.id, "manager": manager.id, "token": token, "users": users, "devices": devices}


def seed(app, pg, *, calls: int, reps: int, days: int, rng: random.Random, now: datetime) -> dict:
    """The organisation, its reps and phones, calls (COPY) and leads (COPY)."""
    from server.extensions import db

    with app.app_context():
        team = seed_team(db.session, reps=reps)
    org_id, manager_id, token, users, devices = (team[key] for key in ("org", "manager", "token", "users", "devices"))
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
    from mobile_sync.store.lead_figures import refresh_first_responses

    with app.app_context():  # the leads' first responses, by the service's own rule
        refresh_first_responses(db.session, org_id)
        db.session.commit()
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
           "mobile_sync/store/rollups.py", "mobile_sync/store/rollup_missed.py", "mobile_sync/store/rollup_months.py")


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
    from mobile_sync.reports.rebuild import rebuild_reports
    from server.extensions import db

    started = time.perf_counter()
    with app.app_context():
        rebuild_reports(db.session, org_id)
        db.session.commit()
    return time.perf_counter() - started


def prepare_report_reads(app, pg, org_id: int) -> float | None:
    """A kept cluster made before revision a1c3e5f7b9d2: add what it adds —
    `leads.first_response_at` (worked out with the service's own rule), the
    leads report's index and the calls report's covering index — if missing.
    Returns the seconds it took, or None when all was there already."""
    from mobile_sync.store.lead_figures import refresh_first_responses
    from server.extensions import db

    started = time.perf_counter()
    column = pg.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'leads' "
                        "AND column_name = 'first_response_at'").fetchone()
    items = pg.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_report_call_days_items'").fetchone()
    pg.rollback()
    if column and items:
        return None
    if not items:
        pg.execute("CREATE INDEX ix_report_call_days_items ON report_call_days (organization_id, day, user_id) "
                   "INCLUDE (incoming, outgoing, missed, rejected, connected, talk_seconds, unique_numbers, "
                   "hours_counted, in_hours)")
    if not column:
        pg.execute("ALTER TABLE leads ADD COLUMN first_response_at timestamptz")
        pg.execute("CREATE INDEX ix_leads_report ON leads (organization_id, created_at) "
                   "INCLUDE (source, status, owner_id, first_call_at, first_response_at)")
    pg.commit()
    if not column:
        with app.app_context():
            refresh_first_responses(db.session, org_id)
            db.session.commit()
    return time.perf_counter() - started
