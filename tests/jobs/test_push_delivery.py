"""Pushes through the real firebase-admin client to a fake FCM server on
127.0.0.1: success, dead tokens, retries that honour Retry-After, refusals,
and payloads sealed for the device alone."""
import base64
import json

import pytest
from nacl.public import PrivateKey, SealedBox

from tests.api.test_caller_id import add_contact


def push_records(app):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import PushMessage

    with app.app_context():
        return db.session.execute(select(PushMessage).order_by(PushMessage.id)).scalars().all()


def device_token(app, device_id):
    from server.extensions import db
    from mobile_sync.store.models import Device

    with app.app_context():
        return db.session.get(Device, device_id).fcm_token


@pytest.fixture
def keypair():
    return PrivateKey.generate()


@pytest.fixture
def rep(make_org, make_user, make_device, keypair):
    actor = make_user(make_org(region="IN"), name="Ravi Rep")
    return make_device(actor, push_public_key=base64.b64encode(bytes(keypair.public_key)).decode())


PERSONAL = ("Asha Rao", "Rao Traders", "9876543210", "98765", "quote")


def test_ringing_push_reaches_fcm_sealed_for_the_device(rep, clean_app, fcm, keypair):
    add_contact(clean_app, rep.organization_id, "Asha Rao", "+91 98765 43210", company="Rao Traders",
                note="wants a quote")
    response = rep.post("/api/v1/calls/ringing", device=True, json={"number": "098765 43210"})
    assert response.status_code == 202 and response.json["devices"] == 1
    assert len(fcm.requests) == 1
    request = fcm.requests[0]
    assert request["authorization"] == "Bearer test-token"
    message = request["body"]["message"]
    assert message["android"]["priority"] == "high" and message["android"]["ttl"] == "30s"
    assert message["android"]["collapse_key"].startswith("ringing-")
    assert message["android"]["notification"]["title"] == "Incoming call"
    assert all(isinstance(v, str) for v in message["data"].values())
    assert len(json.dumps(message).encode()) < 4096
    wire = json.dumps(request["body"])
    assert not any(secret in wire for secret in PERSONAL)
    opened = json.loads(SealedBox(keypair).decrypt(base64.b64decode(message["data"]["sealed"])))
    assert opened["number"] == "+919876543210" and opened["match"]["name"] == "Asha Rao"
    record = push_records(clean_app)[0]
    assert (record.status, record.attempts, record.data) == ("sent", 1, None)


def test_without_a_device_key_the_push_carries_only_an_opaque_id(make_org, make_user, make_device, clean_app, fcm):
    rep = make_device(make_user(make_org(region="IN")))
    add_contact(clean_app, rep.organization_id, "Asha Rao", "+91 98765 43210")
    response = rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    data = fcm.requests[0]["body"]["message"]["data"]
    assert data["push_id"] == response.json["push_id"] and "sealed" not in data
    assert not any(secret in json.dumps(fcm.requests[0]["body"]) for secret in PERSONAL)


def test_unregistered_token_is_removed_and_never_used_again(rep, clean_app, fcm):
    fcm.script("UNREGISTERED")
    rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    assert device_token(clean_app, rep.device_id) is None
    record = push_records(clean_app)[0]
    assert (record.status, record.error, record.attempts) == ("token_removed", "UnregisteredError", 1)
    rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    assert len(fcm.requests) == 1  # 0 further sends


def test_invalid_argument_is_not_retried(rep, clean_app, fcm):
    fcm.script("INVALID_ARGUMENT")
    rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    assert len(fcm.requests) == 1
    record = push_records(clean_app)[0]
    assert (record.status, record.error) == ("failed", "INVALID_ARGUMENT")
    assert device_token(clean_app, rep.device_id) is not None


@pytest.mark.parametrize("error", ["QUOTA_EXCEEDED", "UNAVAILABLE"])
def test_retryable_errors_wait_for_retry_after_then_succeed(rep, clean_app, fcm, error):
    fcm.script((error, 1), (error, 1))
    rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    times = [r["at"] for r in fcm.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0
    record = push_records(clean_app)[0]
    assert (record.status, record.attempts) == ("sent", 3)


def test_retries_stop_when_the_ttl_runs_out(rep, clean_app, fcm):
    fcm.script(("UNAVAILABLE", 60))  # Retry-After beyond the 30 s ringing TTL
    rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    assert len(fcm.requests) == 1
    record = push_records(clean_app)[0]
    assert (record.status, record.error) == ("expired", "UnavailableError")


def test_without_credentials_pushes_go_to_the_local_sink(rep, clean_app, make_org):
    response = rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    assert response.status_code == 202
    record = push_records(clean_app)[0]
    assert record.status == "sink" and record.data["kind"] == "ringing"


def test_telephony_webhook_pushes_to_the_owner_of_the_dialled_number(rep, clean_app, fcm, make_org):
    from server.extensions import db
    from mobile_sync.store.models import User

    with clean_app.app_context():
        admin_id = db.session.query(User.id).filter(User.organization_id == rep.organization_id,
                                                    User.role == "admin").scalar()
    admin_token = None
    from mobile_sync.accounts import issue_user_token

    with clean_app.app_context():
        admin_token = issue_user_token(db.session, db.session.get(User, admin_id))
        db.session.commit()
    key = rep.client.post("/api/v1/api-keys", json={"name": "PBX"},
                          headers={"Authorization": f"Bearer {admin_token}"}).json["key"]
    assert rep.patch("/api/v1/me", json={"phone": "+91 80 4000 1234"}).status_code == 200
    response = rep.client.post("/api/v1/telephony/ringing", json={"from": "+91 98765 43210", "to": "08040001234"},
                               headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 202 and response.json["devices"] == 1
    assert len(fcm.requests) == 1
    assert rep.client.post("/api/v1/telephony/ringing", json={"from": "1", "to": "2"}).status_code == 401


def test_the_private_fcm_url_hook_still_exists():
    """We point firebase-admin at the fake through a private class attribute:
    fail loudly if an upgrade moves it (firebase-admin is pinned)."""
    from firebase_admin import messaging

    assert messaging._MessagingService.FCM_URL.startswith("https://fcm.googleapis.com/v1/projects/{0}")
    import firebase_admin
    import google.oauth2.credentials

    app = firebase_admin.initialize_app(google.oauth2.credentials.Credentials(token="t"),
                                        options={"projectId": "p"}, name="fcm-url-check")
    try:
        service = messaging._get_messaging_service(app)
        assert service._fcm_url == "https://fcm.googleapis.com/v1/projects/p/messages:send"
        assert service._project_id == "p"
    finally:
        firebase_admin.delete_app(app)


def test_a_push_job_run_twice_sends_once(rep, clean_app, fcm):
    """RQ may run a job twice; the atomic claim makes the second run a no-op."""
    from server.jobs import send_push

    rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    (record,) = push_records(clean_app)
    with clean_app.app_context():
        assert send_push(record.id) == "skipped"
    assert len(fcm.requests) == 1


def test_the_sweep_sends_pushes_whose_job_was_lost_and_expires_stale_ones(rep, clean_app, fcm, clock):
    from datetime import timedelta

    from mobile_sync.pushes import queue_push
    from server.extensions import db
    from server.jobs import sweep_outbox

    with clean_app.app_context():
        _, (lost,) = queue_push(db.session, organization_id=rep.organization_id, user_ids=[rep.user_id],
                                kind="ringing", context=None, e164=None, hash_key="k", now=clock.now, ttl_s=30)
        _, (old,) = queue_push(db.session, organization_id=rep.organization_id, user_ids=[rep.user_id],
                               kind="ringing", context=None, e164=None, hash_key="k",
                               now=clock.now - timedelta(seconds=60), ttl_s=30)
        db.session.commit()
    clock.advance(seconds=15)
    with clean_app.test_request_context():
        sweep_outbox(60)
    statuses = {r.id: r.status for r in push_records(clean_app)}
    assert statuses == {lost: "sent", old: "expired"}
    assert len(fcm.requests) == 1
