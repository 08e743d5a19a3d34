"""Ringing pushes sent by the web process's dispatcher (`server.push_dispatch`)
with RQ, the outbox sweep and the atomic claim as the safety net: delivered
with no RQ worker at all, exactly once whoever else tries, retries that wait
out Retry-After without holding up the next ring, and a dispatcher that is
gone or stops leaving its messages to RQ and the sweep."""
import base64
import time

import pytest
from nacl.public import PrivateKey

from tests.jobs.test_push_delivery import push_records
from tests.polling import wait_until


@pytest.fixture
def redis_conn(clean_app, redis_server, fcm):
    """Production wiring: Redis configured, a dispatcher per process, no RQ worker running."""
    import redis

    clean_app.config.update(REDIS_URL=redis_server.url, PUSH_DISPATCH_THREADS=2)
    clean_app.extensions.pop("redis_client", None)
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    yield connection
    dispatcher = clean_app.extensions.pop("push_dispatcher", None)
    if dispatcher is not None:
        dispatcher.close(timeout=1)
    clean_app.extensions.pop("redis_client", None)


@pytest.fixture
def rep(make_org, make_user, make_device):
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    return make_device(make_user(make_org(region="IN"), name="Ravi Rep"), push_public_key=key)


def push_queue_length(connection) -> int:
    from rq import Queue

    return Queue("push", connection=connection).count


def ring(rep, number="+91 98765 43210"):
    response = rep.post("/api/v1/calls/ringing", device=True, json={"number": number})
    assert response.status_code == 202, response.json
    return response.json["push_id"]


def sent(app, count=1):
    return wait_until(lambda: [r for r in push_records(app) if r.status == "sent"] if
                      len([r for r in push_records(app) if r.status == "sent"]) >= count else None,
                      what=f"{count} push(es) recorded as sent")


def test_a_ringing_push_reaches_fcm_with_no_rq_worker_running(rep, clean_app, fcm, redis_conn):
    push_id = ring(rep)
    wait_until(lambda: fcm.requests, what="the push at the fake FCM")
    assert fcm.requests[0]["body"]["message"]["data"]["push_id"] == push_id
    (record,) = sent(clean_app)
    assert (record.attempts, record.error, record.data) == (1, None, None)
    assert push_queue_length(redis_conn) == 0  # no RQ job was made for it


def test_a_push_is_sent_once_whoever_else_tries(rep, clean_app, fcm, redis_conn):
    """RQ running the job too, the sweep, or the same id given twice: one send."""
    from server.extensions import db
    from server.jobs import send_push, sweep_outbox
    from server.push_dispatch import dispatcher_for

    ring(rep)
    (record,) = sent(clean_app)
    dispatcher_for(clean_app).submit([record.id, record.id])
    with clean_app.app_context():
        assert send_push(record.id) == "skipped"
    with clean_app.test_request_context():
        sweep_outbox(0)
        db.session.remove()
    time.sleep(0.3)
    assert len(fcm.requests) == 1 and push_queue_length(redis_conn) == 0


def test_a_dispatcher_that_died_before_the_claim_leaves_the_push_to_the_sweep(rep, clean_app, fcm, redis_conn,
                                                                               monkeypatch, clock):
    """The web process dies between the commit and the send: the message is
    still 'queued', and the outbox sweep hands it to RQ, which sends it once."""
    from rq import Queue, SimpleWorker

    from server.extensions import db
    from server.jobs import sweep_outbox
    from server.push_dispatch import PushDispatcher

    monkeypatch.setattr(PushDispatcher, "submit", lambda self, ids: True)  # taken, then the process is gone
    ring(rep)
    time.sleep(0.2)
    assert [r.status for r in push_records(clean_app)] == ["queued"] and not fcm.requests
    clock.advance(seconds=11)  # past the sweep's minimum age, within the 30 s TTL
    with clean_app.test_request_context():
        sweep_outbox(0)
        db.session.remove()
    assert push_queue_length(redis_conn) == 1
    with clean_app.app_context():  # what `flask worker` gives each job
        SimpleWorker([Queue("push", connection=redis_conn)], connection=redis_conn).work(burst=True)
    assert [r.status for r in push_records(clean_app)] == ["sent"] and len(fcm.requests) == 1


def test_a_message_the_dispatcher_cannot_claim_goes_to_rq(rep, clean_app, fcm, redis_conn, monkeypatch):
    from mobile_sync.store import push_messages

    def database_away(session, message_id):
        raise RuntimeError("connection refused")

    monkeypatch.setattr(push_messages, "claim_push", database_away)
    ring(rep)
    wait_until(lambda: push_queue_length(redis_conn) == 1, what="the RQ job")
    assert [r.status for r in push_records(clean_app)] == ["queued"] and not fcm.requests


def test_without_a_dispatcher_ringing_pushes_go_through_rq(rep, clean_app, fcm, redis_conn):
    clean_app.config["PUSH_DISPATCH_THREADS"] = 0
    ring(rep)
    assert push_queue_length(redis_conn) == 1 and not fcm.requests


def test_a_retry_waits_out_retry_after_without_holding_up_the_next_ring(rep, clean_app, fcm, redis_conn):
    fcm.script(("QUOTA_EXCEEDED", 1))
    first = ring(rep, "+91 98765 43210")
    wait_until(lambda: len(fcm.requests) == 1, what="the first attempt")
    second = ring(rep, "+91 91234 56789")
    wait_until(lambda: len(fcm.requests) == 3, what="the second ring and the retry")
    order = [(r["body"]["message"]["data"]["push_id"], r["at"]) for r in fcm.requests]
    assert [push_id for push_id, _ in order] == [first, second, first]
    assert order[2][1] - order[0][1] >= 1.0  # Retry-After honoured
    assert order[1][1] - order[0][1] < 0.9   # the next ring did not wait behind it
    records = {r.push_id: r for r in sent(clean_app, 2)}
    assert (records[first].attempts, records[second].attempts) == (2, 1)


def test_stopping_hands_a_waiting_retry_back_to_rq_with_its_attempts(rep, clean_app, fcm, redis_conn):
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from server.push_dispatch import dispatcher_for

    fcm.script(("UNAVAILABLE", 5))
    ring(rep)
    wait_until(lambda: len(fcm.requests) == 1, what="the first attempt")
    time.sleep(0.1)
    dispatcher_for(clean_app).close(timeout=0.2)
    (record,) = push_records(clean_app)
    assert (record.status, record.attempts) == ("queued", 1)
    assert ScheduledJobRegistry(queue=Queue("push", connection=redis_conn)).count == 1
    assert len(fcm.requests) == 1
    # Stopped: later rings go to RQ.
    ring(rep, "+91 91234 56789")
    assert push_queue_length(redis_conn) == 1


def test_a_sender_whose_database_connection_was_dropped_reconnects_for_the_next_ring(
        rep, clean_app, fcm, redis_conn):
    """PostgreSQL restarted (here: the senders' backends terminated) between
    two rings: the next ring still reaches FCM and is recorded as sent."""
    from sqlalchemy import text

    from server.extensions import db

    if clean_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the senders keep their own connection on PostgreSQL only")
    ring(rep)
    sent(clean_app, 1)
    with clean_app.app_context():
        killed = db.session.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'UPDATE push_messages%'"
        )).scalar_one()
        db.session.commit()
    assert killed >= 1, "the sender keeps a connection of its own"
    second = ring(rep, "+91 90000 12345")
    wait_until(lambda: any(r["body"]["message"]["data"]["push_id"] == second for r in fcm.requests),
               what="the second push at the fake FCM")
    assert len(sent(clean_app, 2)) == 2
