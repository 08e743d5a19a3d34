"""A recorded push ends the same whichever sender sends it: the web process's
dispatcher, RQ's `send_push` job, or that job run inline in the embedded mode
(all through `server.push.send_recorded_push`). Each is reached the way the
service reaches it, through `send_now`, against the real firebase-admin
client and the fake FCM."""
from datetime import datetime, timezone

import pytest

from tests.jobs.test_push_delivery import device_token, push_records
from tests.polling import wait_until

SENDERS = ("dispatcher", "rq", "inline")

# What FCM (or the device) does → what the record says (status, error,
# attempts), whether the device keeps its token, and how many sends FCM saw.
OUTCOMES = {
    "delivered": (("sent", None, 1), True, 1),
    "retried after Retry-After": (("sent", None, 2), True, 2),
    "no target left": (("failed", "NO_TOKEN", 0), False, 0),
    "unregistered token": (("token_removed", "UnregisteredError", 1), False, 1),
    "refused": (("failed", "INVALID_ARGUMENT", 1), True, 1),
}


@pytest.fixture(params=SENDERS)
def send_by(request, clean_app, fcm):
    """`send_by(message_id)`: hand a recorded push to `send_now` with one
    sender in charge, and return its record once it has an outcome."""
    from server.extensions import db
    from server.push_dispatch import send_now

    sender = request.param
    connection = None
    if sender != "inline":  # production wiring: Redis, with or without a dispatcher
        import redis

        redis_server = request.getfixturevalue("redis_server")
        clean_app.config.update(REDIS_URL=redis_server.url, PUSH_DISPATCH_THREADS=2 if sender == "dispatcher" else 0)
        clean_app.extensions.pop("redis_client", None)
        connection = redis.Redis.from_url(redis_server.url)
        connection.flushdb()

    def send(message_id):
        with clean_app.app_context():
            send_now([message_id])
            db.session.remove()
        if sender == "rq":
            from rq import Queue, SimpleWorker

            with clean_app.app_context():  # what `flask worker` gives each job
                SimpleWorker([Queue("push", connection=connection)], connection=connection).work(burst=True)
        return wait_until(lambda: next((r for r in push_records(clean_app) if r.id == message_id
                                        and r.status not in ("queued", "sending")), None),
                          what=f"the {sender}'s outcome")

    send.sender = sender
    yield send
    dispatcher = clean_app.extensions.pop("push_dispatcher", None)
    if dispatcher is not None:
        dispatcher.close(timeout=1)
    clean_app.extensions.pop("redis_client", None)


@pytest.fixture
def phone(make_org, make_user, make_device):
    return make_device(make_user(make_org(region="IN")))


def recorded_push(app, phone) -> int:
    """A ringing push recorded for the phone and committed, not yet sent."""
    from mobile_sync.pushes import queue_push
    from server.extensions import db

    with app.app_context():
        _, (message_id,) = queue_push(db.session, organization_id=phone.organization_id, user_ids=[phone.user_id],
                                      kind="ringing", context=None, e164=None, hash_key="k",
                                      now=datetime.now(timezone.utc), ttl_s=30)
        db.session.commit()
    return message_id


def forget_token(app, device_id) -> None:
    """The phone's token went (rotated away, or dropped by another push) after its push was recorded."""
    from server.extensions import db
    from mobile_sync.store.models import Device

    with app.app_context():
        db.session.get(Device, device_id).fcm_token = None
        db.session.commit()


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_every_sender_records_the_same_outcome(send_by, outcome, phone, clean_app, fcm):
    message_id = recorded_push(clean_app, phone)
    if outcome == "retried after Retry-After":
        fcm.script(("QUOTA_EXCEEDED", 1))
    elif outcome == "no target left":
        forget_token(clean_app, phone.device_id)
    elif outcome == "unregistered token":
        fcm.script("UNREGISTERED")
    elif outcome == "refused":
        fcm.script("INVALID_ARGUMENT")

    record = send_by(message_id)

    expected, keeps_token, sends = OUTCOMES[outcome]
    assert (record.status, record.error, record.attempts) == expected, send_by.sender
    assert (device_token(clean_app, phone.device_id) is not None) == keeps_token
    assert len(fcm.requests) == sends
    if sends == 2:
        assert fcm.requests[1]["at"] - fcm.requests[0]["at"] >= 1.0  # Retry-After honoured, wherever it waited


def test_a_push_sent_by_one_sender_is_skipped_by_the_others(send_by, phone, clean_app, fcm):
    """Whoever sent it first, the job run again (RQ may) finds it taken."""
    from server.extensions import db
    from server.jobs import send_push

    message_id = recorded_push(clean_app, phone)
    assert send_by(message_id).status == "sent"
    with clean_app.app_context():
        assert send_push(message_id) == "skipped"
        db.session.remove()
    assert len(fcm.requests) == 1
