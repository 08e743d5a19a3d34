"""Webhook delivery as the jobs run it: backoff with jitter and Retry-After,
410 and 3 days of failures disabling the endpoint (and telling the admins),
SSRF refused at connect, bad receivers (hanging, 10 MB, redirecting) failing
cleanly while the others go on, and a worker killed mid-delivery: the
delivery is made at least once, with the same webhook-id, never lost."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.api.test_webhooks_support import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hooks_app(clean_app):
    clean_app.config.update(WEBHOOK_ALLOW_LOOPBACK=True, WEBHOOK_TIMEOUT_S=1.0, WEBHOOK_CONNECT_TIMEOUT_S=1.0)
    yield clean_app
    clean_app.extensions.pop("webhook_resolver", None)



def add_endpoint(admin, url, events=("contact.deleted",)):
    response = admin.post("/api/v1/webhooks", json={"url": url, "events": list(events)})
    assert response.status_code == 201, response.json
    return response.json["id"]


def emit(app, org_id, type_="contact.deleted", subject=None) -> list[int]:
    from mobile_sync.webhooks.events import emit as emit_event
    from server.clock import now
    from server.extensions import db

    with app.test_request_context():
        ids = emit_event(db.session, org_id, type_, subject or {"contact_id": 7}, now())
        db.session.commit()
    return ids


def deliveries(app):
    from mobile_sync.store.models import WebhookDelivery
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id)).scalars().all()
        db.session.commit()
        return rows


def endpoint(app, endpoint_id):
    from mobile_sync.store.models import WebhookEndpoint
    from server.extensions import db

    with app.app_context():
        row = db.session.get(WebhookEndpoint, endpoint_id)
        db.session.commit()
        return row


def deliver(app, ids):
    from server.webhook_delivery import deliver_webhooks

    with app.app_context():
        return deliver_webhooks(ids)


def outbox(app, seen: frozenset = frozenset()) -> list[str]:
    """The e-mails written to the outbox, but those named in `seen` (earlier tests' share it)."""
    path = Path(app.config["OUTBOX_DIR"])
    return [p.read_text() for p in sorted(path.glob("*.eml")) if p.name not in seen] if path.exists() else []


def outbox_names(app) -> frozenset:
    path = Path(app.config["OUTBOX_DIR"])
    return frozenset(p.name for p in path.glob("*.eml")) if path.exists() else frozenset()


def test_failures_back_off_with_jitter_and_honour_retry_after(make_org, hooks_app, receiver, clock):
    admin = make_org()
    add_endpoint(admin, receiver.url("/status/503"))
    [delivery_id] = emit(hooks_app, admin.organization_id)
    [row] = deliveries(hooks_app)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 503)
    pauses = [(row.next_attempt_at - clock.now).total_seconds()]
    assert 15 <= pauses[0] <= 30
    for _ in range(5):
        clock.set(row.next_attempt_at)
        deliver(hooks_app, [delivery_id])
        [row] = deliveries(hooks_app)
        pauses.append((row.next_attempt_at - clock.now).total_seconds())
    assert row.attempts == 6
    for attempt, pause in enumerate(pauses, 1):
        ceiling = 30 * 2 ** (attempt - 1)
        assert ceiling / 2 <= pause <= ceiling, (attempt, pauses)
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1  # a retry keeps its id
    # Retry-After is honoured: not before it, even when the backoff would be sooner.
    admin.patch(f"/api/v1/webhooks/{row.endpoint_id}", json={"url": receiver.url("/status/429?retry_after=3600")})
    clock.set(row.next_attempt_at)
    deliver(hooks_app, [delivery_id])
    [row] = deliveries(hooks_app)
    assert row.last_status_code == 429 and (row.next_attempt_at - clock.now).total_seconds() == 3600
    # Not due yet: a job for it sends nothing.
    before = len(receiver.requests)
    deliver(hooks_app, [delivery_id])
    assert len(receiver.requests) == before


def test_a_410_disables_the_endpoint(make_org, hooks_app, receiver):
    admin = make_org()
    endpoint_id = add_endpoint(admin, receiver.url("/status/410"))
    emit(hooks_app, admin.organization_id)
    [row] = deliveries(hooks_app)
    assert (row.status, row.last_status_code) == ("failed", 410)
    gone = endpoint(hooks_app, endpoint_id)
    assert (gone.active, gone.disabled_reason) == (False, "gone")
    emit(hooks_app, admin.organization_id)
    assert len(receiver.requests) == 1 and len(deliveries(hooks_app)) == 1


def test_an_endpoint_failing_for_three_days_is_disabled_and_admins_are_told(make_org, hooks_app, receiver, clock):
    admin = make_org()
    before = outbox_names(hooks_app)
    endpoint_id = add_endpoint(admin, receiver.url("/status/500"))
    emit(hooks_app, admin.organization_id)
    started = clock.now
    for hours in (20, 40, 60, 71):
        clock.set(started + timedelta(hours=hours))
        emit(hooks_app, admin.organization_id)
        assert endpoint(hooks_app, endpoint_id).active
    assert outbox(hooks_app, before) == []
    clock.set(started + timedelta(days=3, minutes=1))
    emit(hooks_app, admin.organization_id)
    off = endpoint(hooks_app, endpoint_id)
    assert (off.active, off.disabled_reason) == (False, "failing")
    [mail] = outbox(hooks_app, before)
    assert admin.email in mail and "disabled" in mail and receiver.url("/status/500") in mail
    assert admin.get("/api/v1/webhooks").json["items"][0]["disabled_reason"] == "failing"


def test_a_delivery_gives_up_after_three_days(make_org, hooks_app, receiver, clock):
    admin = make_org()
    add_endpoint(admin, receiver.url("/status/500"))
    [delivery_id] = emit(hooks_app, admin.organization_id)
    started = clock.now
    while True:
        [row] = deliveries(hooks_app)
        if row.status != "pending":
            break
        clock.set(row.next_attempt_at)
        deliver(hooks_app, [delivery_id])
    assert row.status == "failed" and clock.now - started <= timedelta(days=3)
    assert 15 <= row.attempts <= 30


def test_an_address_that_turned_private_is_refused_at_connect(make_org, hooks_app, receiver):
    admin = make_org()
    hooks_app.extensions["webhook_resolver"] = lambda host, port: ["93.184.216.34"]
    add_endpoint(admin, "http://hooks.example.com:8080/in")
    hooks_app.extensions["webhook_resolver"] = lambda host, port: ["10.0.0.7"]  # DNS rebinding
    emit(hooks_app, admin.organization_id)
    [row] = deliveries(hooks_app)
    assert (row.status, row.last_error, row.last_status_code) == ("pending", "private", None)


@pytest.mark.parametrize("address,reason", [("127.0.0.1", "loopback"), ("169.254.169.254", "link_local"),
                                            ("fe80::1", "link_local"), ("::", "unspecified"), ("ff02::1", "multicast"),
                                            ("100.64.0.1", "reserved"), ("172.16.5.4", "private")])
def test_the_address_check_refuses_what_is_not_public(address, reason):
    from mobile_sync.webhooks.addresses import UnsafeUrl, check_url

    with pytest.raises(UnsafeUrl) as refused:
        check_url("https://hooks.example.com/x", allow_loopback=False, resolve=lambda host, port: [address])
    assert refused.value.reason == reason
    target = check_url("https://hooks.example.com/x", allow_loopback=False, resolve=lambda h, p: ["93.184.216.34"])
    assert (target.address, target.host, target.port) == ("93.184.216.34", "hooks.example.com", 443)


def test_a_redirect_to_the_metadata_address_is_not_followed(make_org, hooks_app, receiver):
    admin = make_org()
    add_endpoint(admin, receiver.url("/redirect"))
    emit(hooks_app, admin.organization_id)
    [row] = deliveries(hooks_app)
    assert (row.status, row.last_status_code) == ("pending", 302)
    assert [r["path"] for r in receiver.requests] == ["/redirect"]


def test_a_hanging_receiver_times_out_and_the_others_go_on(make_org, hooks_app, receiver):
    admin = make_org()
    hanging = add_endpoint(admin, receiver.url("/hang"))
    add_endpoint(admin, receiver.url("/big"))
    fine = add_endpoint(admin, receiver.url("/ok"))
    started = time.monotonic()
    emit(hooks_app, admin.organization_id)
    emit(hooks_app, admin.organization_id)
    elapsed = time.monotonic() - started
    rows = deliveries(hooks_app)
    by_endpoint = {}
    for row in rows:
        by_endpoint.setdefault(row.endpoint_id, []).append(row)
    assert [(r.status, r.last_error) for r in by_endpoint[hanging]] == [("pending", "timeout")] * 2
    assert [r.status for r in by_endpoint[fine]] == ["delivered", "delivered"]
    big = [r for e, rs in by_endpoint.items() if e not in (hanging, fine) for r in rs]
    assert [(r.status, r.last_status_code) for r in big] == [("delivered", 200)] * 2
    assert elapsed < 8, elapsed  # two 1 s timeouts, 10 MB never read


def test_a_withdrawn_consent_stops_its_calls_being_sent(make_org, make_user, make_device, hooks_app, receiver):
    admin = make_org(region="IN")
    rep = make_device(make_user(admin))
    add_endpoint(admin, receiver.url("/ok"), ["call.logged"])
    from server.extensions import db

    with hooks_app.app_context():
        from mobile_sync.store.models import WebhookEndpoint

        db.session.get(WebhookEndpoint, 1)
    # The event is written while consent stands; consent is withdrawn before it is sent.
    hooks_app.config["REDIS_URL"] = None
    admin.patch("/api/v1/webhooks/1", json={"active": False})
    response = rep.put(f"/api/v1/devices/{rep.device_id}/consent", device=True,
                       json={"contacts": True, "call_log": False,
                             "policy_version": rep.client.get("/api/v1/consent/policy").json["version"]})
    assert response.status_code == 200, response.json
    admin.patch("/api/v1/webhooks/1", json={"active": True})
    assert emit(hooks_app, admin.organization_id, "call.logged",
                {"upload_id": 1, "device_id": rep.device_id, "user_id": rep.user_id}) == []
    assert receiver.requests == []


# ------------------------------------------------------------------ RQ, real Redis


@pytest.fixture
def queueing(hooks_app, redis_server):
    import redis

    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    hooks_app.config["REDIS_URL"] = redis_server.url
    hooks_app.extensions.pop("redis_client", None)
    yield connection
    connection.flushdb()
    hooks_app.extensions.pop("redis_client", None)


def work(app, connection) -> None:
    from rq import Queue

    from server.worker import AppWorker

    AppWorker.flask_app = app
    AppWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)


def test_deliveries_go_through_rq_after_the_commit(make_org, hooks_app, receiver, queueing):
    from rq import Queue

    admin = make_org()
    add_endpoint(admin, receiver.url("/ok"))
    emit(hooks_app, admin.organization_id)
    [job] = Queue("default", connection=queueing).get_jobs()
    assert job.func_name == "server.webhook_delivery.deliver_webhooks" and job.args == ([1],)
    assert receiver.requests == []
    work(hooks_app, queueing)
    assert [r.status for r in deliveries(hooks_app)] == ["delivered"]


def test_a_worker_killed_mid_delivery_delivers_at_least_once(make_org, hooks_app, receiver, queueing, tmp_path):
    admin = make_org()
    add_endpoint(admin, receiver.url("/hang"))
    [delivery_id] = emit(hooks_app, admin.organization_id)
    env = {**os.environ, "DATABASE_URL": hooks_app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": hooks_app.config["REDIS_URL"], "SECRET_KEY": hooks_app.config["SECRET_KEY"],
           "SECRETS_KEY": hooks_app.config["SECRETS_KEY"], "HASH_KEY": hooks_app.config["HASH_KEY"],
           "DATA_DIR": str(tmp_path), "WEBHOOK_ALLOW_LOOPBACK": "true", "WEBHOOK_TIMEOUT_S": "30"}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", "worker", "--queues", "default"],
                              env=env, cwd=Path(__file__).resolve().parents[2], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        receiver.wait_for(1, timeout=30)
        assert [r["path"] for r in receiver.requests] == ["/hang"]
        os.killpg(worker.pid, signal.SIGKILL)  # mid-delivery: the receiver holds the request
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    [row] = deliveries(hooks_app)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, None) and row.claimed_until is not None
    receiver.release.set()  # the receiver is healthy again
    from server.webhook_delivery import sweep_webhooks

    with hooks_app.app_context():
        assert sweep_webhooks() == 0  # the dead worker's lease has not run out
    hooks_app.config["NOW"] = lambda: datetime.now(timezone.utc) + timedelta(minutes=5)
    with hooks_app.app_context():
        assert sweep_webhooks() == 1
    work(hooks_app, queueing)
    [row] = deliveries(hooks_app)
    assert (row.status, row.attempts, row.id) == ("delivered", 2, delivery_id)
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) >= 2 and len(set(ids)) == 1
    assert json.loads(receiver.requests[-1]["body"])["type"] == "contact.deleted"
