"""Group commit: one processing run takes every pending upload of an
organisation, and one queued job per organisation serves every upload made
before it started. What the team sees is what processing upload by upload
gave; another organisation's uploads wait for their own job."""
import pytest
from sqlalchemy import select, text

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row

ASHA = "+91 98765 43210"
NEW = "+91 91234 56789"
OTHER_NEW = "+91 98450 11111"


@pytest.fixture
def team(clean_app, make_org, make_user, make_device):
    """make_team() -> (admin, rep with a phone, id of the rep's customer Asha)."""

    def make():
        admin = make_org(region="IN")
        rep = make_device(make_user(admin, name="Ravi"))
        contact_id = add_contact(clean_app, admin.organization_id, "Asha", ASHA, owner_id=rep.user_id)
        return admin, rep, contact_id

    return make


@pytest.fixture
def queueing(clean_app, redis_server):
    """queueing() -> a Redis connection; from then on jobs are queued, and no worker runs until `work()`."""
    import redis

    connection = redis.Redis.from_url(redis_server.url)

    def start():
        clean_app.config["REDIS_URL"] = redis_server.url
        clean_app.extensions.pop("redis_client", None)
        connection.flushdb()
        return connection

    yield start
    connection.flushdb()
    clean_app.extensions.pop("redis_client", None)


def queued_jobs(connection) -> list:
    from rq import Queue

    return Queue("default", connection=connection).get_jobs()


def work(app, connection) -> None:
    """What `flask worker --burst` does with the default queue."""
    from rq import Queue

    from server.worker import AppWorker

    AppWorker.flask_app = app
    AppWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)


def upload(rep, *rows, batch):
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": list(rows)})
    assert response.status_code == 200 and response.json["accepted"] == len(rows), response.json
    return response.json


def upload_the_day(rep):
    """Three uploads: Asha's missed call in the first and the call back in the
    second; an unknown caller in the first, called again in the second; another
    unknown caller in the third."""
    upload(rep, call_row(1, ASHA, type_=3, duration=0), call_row(2, NEW, duration=60), batch="b1")
    upload(rep, call_row(3, "098765 43210", type_=2, duration=30), call_row(4, NEW, type_=2, duration=40),
           batch="b2")
    upload(rep, call_row(5, OTHER_NEW, duration=90), batch="b3")


def what_the_team_sees(admin, rep, contact_id):
    leads = sorted((lead["phone"], lead["calls_count"], lead["status"], lead["owner_id"] == rep.user_id,
                    lead["first_call_at"], lead["last_call_at"], lead["last_spoken_at"])
                   for lead in admin.get("/api/v1/leads").json["items"])
    tasks = [(task["number"], task["status"], task["closed_reason"], task["missed_count"])
             for task in rep.get("/api/v1/tasks").json["items"]]
    contact = admin.get(f"/api/v1/contacts/{contact_id}").json
    return leads, tasks, (contact["last_call_at"], contact["last_spoken_at"])


def uploads_of(app, organization_id) -> list[tuple[bool, int]]:
    """(processed, attempts) of each upload of the organisation, oldest first."""
    from server.extensions import db
    from mobile_sync.store.models import SyncUpload

    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            select(SyncUpload.processed_at.is_not(None), SyncUpload.attempts)
            .where(SyncUpload.organization_id == organization_id).order_by(SyncUpload.id))]


def unprocessed_calls(app, organization_id) -> int:
    from server.extensions import db

    with app.app_context():
        return db.session.execute(text("SELECT count(*) FROM calls WHERE organization_id = :o "
                                       "AND processed_at IS NULL"), {"o": organization_id}).scalar_one()


def run_job(app, job, *args):
    from server.extensions import db

    with app.app_context():
        try:
            return job(*args)
        finally:
            db.session.remove()


def test_uploads_made_while_no_worker_runs_are_processed_by_one_job_as_one_by_one(team, clean_app, queueing):
    one_by_one = team()  # the embedded mode: each upload processed right after its commit
    upload_the_day(one_by_one[1])
    connection = queueing()
    admin, rep, contact_id = team()
    upload_the_day(rep)
    assert len(queued_jobs(connection)) == 1, "one job for the organisation's three uploads"
    assert admin.get("/api/v1/leads").json["items"] == []  # nothing processed yet

    work(clean_app, connection)
    assert uploads_of(clean_app, admin.organization_id) == [(True, 1)] * 3
    assert unprocessed_calls(clean_app, admin.organization_id) == 0
    seen = what_the_team_sees(admin, rep, contact_id)
    leads, tasks, contact = seen
    assert [(phone, count) for phone, count, *_ in leads] == [("+919123456789", 2), ("+919845011111", 1)]
    assert tasks == [("+919876543210", "done", "called_back", 1)], "missed, then called back: closed"
    assert contact[0] is not None and contact[1] is not None
    assert seen == what_the_team_sees(*one_by_one)


def test_one_job_is_queued_per_organisation_and_runs_only_its_own_uploads(team, clean_app, queueing):
    from server.jobs import process_call_uploads

    connection = queueing()
    (admin_a, rep_a, _), (admin_b, rep_b, _) = team(), team()
    for n in range(3):
        upload(rep_a, call_row(n + 1, f"+91 90000 1000{n}"), batch=f"a{n}")
        upload(rep_b, call_row(n + 1, f"+91 90000 2000{n}"), batch=f"b{n}")
    assert sorted(job.args for job in queued_jobs(connection)) == [(admin_a.organization_id,),
                                                                  (admin_b.organization_id,)]

    assert run_job(clean_app, process_call_uploads, admin_a.organization_id) == 3
    assert uploads_of(clean_app, admin_a.organization_id) == [(True, 1)] * 3
    assert len(admin_a.get("/api/v1/leads").json["items"]) == 3
    assert uploads_of(clean_app, admin_b.organization_id) == [(False, 0)] * 3, "the other organisation waits"
    assert unprocessed_calls(clean_app, admin_b.organization_id) == 3
    assert admin_b.get("/api/v1/leads").json["items"] == []

    # Once a job has started, the next upload is not left to it: it gets a job of its own.
    upload(rep_a, call_row(9, "+91 90000 10009"), batch="a9")
    assert len(queued_jobs(connection)) == 3
    work(clean_app, connection)
    assert uploads_of(clean_app, admin_a.organization_id) == [(True, 1)] * 4
    assert uploads_of(clean_app, admin_b.organization_id) == [(True, 1)] * 3
    assert len(admin_a.get("/api/v1/leads").json["items"]) == 4
    assert len(admin_b.get("/api/v1/leads").json["items"]) == 3


def test_a_second_job_for_processed_uploads_changes_nothing(team, clean_app):
    from server.extensions import db
    from server.jobs import process_call_upload, process_call_uploads
    from mobile_sync.store.models import SyncUpload

    admin, rep, contact_id = team()
    upload_the_day(rep)  # processed in process, one upload at a time
    before = what_the_team_sees(admin, rep, contact_id)
    with clean_app.app_context():
        upload_ids = list(db.session.execute(select(SyncUpload.id).order_by(SyncUpload.id)).scalars())
    for upload_id in upload_ids:
        assert run_job(clean_app, process_call_upload, upload_id) == 0
    assert run_job(clean_app, process_call_uploads, admin.organization_id) == 0
    assert uploads_of(clean_app, admin.organization_id) == [(True, 1)] * 3
    assert what_the_team_sees(admin, rep, contact_id) == before


def test_a_job_for_one_upload_takes_the_organisations_other_pending_uploads(team, clean_app, queueing):
    from server.extensions import db
    from server.jobs import process_call_upload
    from mobile_sync.store.models import SyncUpload

    connection = queueing()
    admin, rep, _ = team()
    upload_the_day(rep)
    connection.flushdb()  # the queued job is lost
    with clean_app.app_context():
        second = db.session.execute(select(SyncUpload.id).order_by(SyncUpload.id).offset(1)).scalar()
    assert run_job(clean_app, process_call_upload, second) == 5
    assert uploads_of(clean_app, admin.organization_id) == [(True, 1)] * 3
    (task,) = rep.get("/api/v1/tasks").json["items"]
    assert (task["status"], task["closed_reason"]) == ("done", "called_back")


def test_more_uploads_than_one_run_takes_are_all_processed_by_one_job(team, clean_app, queueing, monkeypatch):
    from mobile_sync import process_calls

    monkeypatch.setattr(process_calls, "MAX_UPLOADS_PER_RUN", 2)
    connection = queueing()
    admin, rep, _ = team()
    for n in range(5):
        upload(rep, call_row(n + 1, NEW, duration=60), batch=f"b{n}")
    assert len(queued_jobs(connection)) == 1
    work(clean_app, connection)
    assert uploads_of(clean_app, admin.organization_id) == [(True, 1)] * 5
    (lead,) = admin.get("/api/v1/leads").json["items"]
    assert lead["calls_count"] == 5


def test_a_redis_error_at_the_mark_still_queues_the_job(team, clean_app, queueing, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    connection = queueing()
    admin, rep, _ = team()
    with clean_app.app_context():
        from server.extensions import redis_connection

        client = redis_connection()

    def refuse(*args, **kwargs):
        raise RedisConnectionError("gone for a moment")

    monkeypatch.setattr(client, "set", refuse)
    upload(rep, call_row(1, NEW, duration=60), batch="b1")
    upload(rep, call_row(2, NEW, duration=60), batch="b2")
    assert len(queued_jobs(connection)) == 2, "without the mark, every upload queues its job"
    work(clean_app, connection)
    assert uploads_of(clean_app, admin.organization_id) == [(True, 1)] * 2
    assert admin.get("/api/v1/leads").json["items"][0]["calls_count"] == 2


def test_a_job_that_could_not_be_queued_holds_no_later_upload_back(team, clean_app, queueing, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue

    from server.jobs import PROCESSING_QUEUED, sweep_outbox

    connection = queueing()
    admin, rep, _ = team()
    enqueue = Queue.enqueue

    def refuse(*args, **kwargs):
        raise RedisConnectionError("gone for a moment")

    monkeypatch.setattr(Queue, "enqueue", refuse)
    upload(rep, call_row(1, NEW, duration=60), batch="b1")
    assert queued_jobs(connection) == [] and not connection.exists(PROCESSING_QUEUED.format(admin.organization_id))
    monkeypatch.setattr(Queue, "enqueue", enqueue)
    upload(rep, call_row(2, NEW, duration=60), batch="b2")
    assert len(queued_jobs(connection)) == 1
    work(clean_app, connection)
    assert uploads_of(clean_app, admin.organization_id) == [(True, 1)] * 2

    # The sweep queues one job per organisation, whatever the mark says.
    monkeypatch.setattr(Queue, "enqueue", refuse)
    upload(rep, call_row(3, NEW, duration=60), batch="b3")
    upload(rep, call_row(4, NEW, duration=60), batch="b4")
    monkeypatch.setattr(Queue, "enqueue", enqueue)
    connection.set(PROCESSING_QUEUED.format(admin.organization_id), 1)  # a mark whose job was lost
    with clean_app.test_request_context():
        assert sweep_outbox(0) == 2
    assert len(queued_jobs(connection)) == 1
    work(clean_app, connection)
    assert uploads_of(clean_app, admin.organization_id) == [(True, 1)] * 4
    assert admin.get("/api/v1/leads").json["items"][0]["calls_count"] == 4


def test_uploads_another_run_holds_are_left_to_it(team, clean_app, queueing, request):
    """PostgreSQL: a run skips the uploads another run has locked, and does not wait for it."""
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("SQLite has no row locks: one writer at a time")
    from server.extensions import db
    from server.jobs import process_call_uploads
    from mobile_sync.store.models import SyncUpload

    queueing()
    admin, rep, _ = team()
    for n in range(3):
        upload(rep, call_row(n + 1, f"+91 90000 3000{n}"), batch=f"b{n}")
    with clean_app.app_context():
        first = db.session.execute(select(SyncUpload.id).order_by(SyncUpload.id)).scalar()
        other_run = db.engine.connect()
    try:
        other_run.execute(text("SELECT id FROM sync_uploads WHERE id = :id FOR UPDATE"), {"id": first})
        assert run_job(clean_app, process_call_uploads, admin.organization_id) == 2
        assert uploads_of(clean_app, admin.organization_id) == [(False, 0), (True, 1), (True, 1)]
    finally:
        other_run.rollback()
        other_run.close()
    assert run_job(clean_app, process_call_uploads, admin.organization_id) == 1
    assert uploads_of(clean_app, admin.organization_id) == [(True, 1)] * 3


def test_a_new_callers_missed_call_opens_a_task_however_the_calls_were_grouped(team, clean_app, queueing):
    """An unknown number calls (a lead is made), then calls again and is
    missed: a call-back task for the lead's owner, whether the two calls
    came in one upload, in two uploads processed one by one, or in two
    uploads processed by one run."""
    first, missed = call_row(1, NEW, duration=60), call_row(2, NEW, type_=3, duration=0)

    def tasks_of(rep):
        return [(task["number"], task["status"], task["missed_count"])
                for task in rep.get("/api/v1/tasks").json["items"]]

    _, together, _ = team()
    upload(together, first, missed, batch="one")
    _, one_by_one, _ = team()
    upload(one_by_one, first, batch="b1")
    upload(one_by_one, missed, batch="b2")
    connection = queueing()
    _, one_run, _ = team()
    upload(one_run, first, batch="b1")
    upload(one_run, missed, batch="b2")
    work(clean_app, connection)

    expected = [("+919123456789", "open", 1)]
    assert tasks_of(together) == expected
    assert tasks_of(one_by_one) == expected
    assert tasks_of(one_run) == expected
