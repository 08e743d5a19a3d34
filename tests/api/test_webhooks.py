"""Webhooks out: endpoints managed by admins, Standard Webhooks signatures
verified by a local receiver with the `standardwebhooks` package, rotation's
second signature, tenant isolation, SSRF refusals at save, and the rules on
erased numbers. Events are emitted through the one hook (`emit`)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from tests.api.test_caller_id import add_contact, add_lead
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



def emit(app, org_id, type_, subject):
    """What a domain change does: the hook in its transaction, then the commit."""
    from mobile_sync.webhooks.events import emit as emit_event
    from server.clock import now
    from server.extensions import db

    with app.test_request_context():
        ids = emit_event(db.session, org_id, type_, subject, now())
        db.session.commit()
    return ids


def add_endpoint(admin, url, events=("lead.created",)):
    response = admin.post("/api/v1/webhooks", json={"url": url, "events": list(events)})
    assert response.status_code == 201, response.json
    return response.json


def test_the_specification_test_vector_signs_as_published():
    from mobile_sync.webhooks.signing import secret_key, sign

    # standard-webhooks/standard-webhooks, spec/standard-webhooks.md and its libraries' tests
    key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_created_endpoint_receives_signed_events_its_receiver_verifies(make_org, hooks_app, receiver):
    admin = make_org(region="IN")
    created = add_endpoint(admin, receiver.url("/ok"), ["lead.created", "contact.created"])
    assert created["secret"].startswith("whsec_")
    receiver.secrets.append(created["secret"])
    lead_id = add_lead(hooks_app, admin.organization_id, "Asha Rao", "+91 98765 43210")
    emit(hooks_app, admin.organization_id, "lead.created", {"lead_id": lead_id})
    emit(hooks_app, admin.organization_id, "task.created", {"task_id": 1})  # not subscribed
    [request] = receiver.wait_for(1)
    assert request["verified"] == [created["secret"]]
    body = json.loads(request["body"])
    assert body["type"] == "lead.created" and body["data"]["id"] == lead_id
    assert body["data"]["phone"] == "+919876543210" and body["data"]["name"] == "Asha Rao"
    assert request["headers"]["webhook-id"].startswith("msg_")
    deliveries = admin.get(f"/api/v1/webhooks/{created['id']}/deliveries").json["items"]
    assert [(d["type"], d["status"], d["attempts"], d["last_status_code"]) for d in deliveries] == [
        ("lead.created", "delivered", 1, 204)]


def test_the_secret_is_shown_once_and_stored_sealed(make_org, hooks_app, receiver):
    from sqlalchemy import select

    from mobile_sync.store.models import WebhookEndpoint
    from server.extensions import db

    admin = make_org()
    created = add_endpoint(admin, receiver.url())
    listed = admin.get("/api/v1/webhooks").json
    assert listed["next_page"] is None and len(listed["items"]) == 1
    assert created["secret"] not in json.dumps(listed)
    assert created["secret"] not in json.dumps(admin.get(f"/api/v1/webhooks/{created['id']}").json)
    with hooks_app.app_context():
        stored = db.session.execute(select(WebhookEndpoint.secret)).scalar_one()
    assert created["secret"][6:] not in stored and "whsec" not in stored


def test_a_rotated_secret_signs_beside_the_old_one_for_24_hours(make_org, hooks_app, receiver, clock):
    admin = make_org()
    created = add_endpoint(admin, receiver.url("/ok"), ["contact.created"])
    rotated = admin.post(f"/api/v1/webhooks/{created['id']}/rotate-secret").json["secret"]
    assert rotated != created["secret"]
    receiver.secrets.extend([created["secret"], rotated])
    contact_id = add_contact(hooks_app, admin.organization_id, "Asha Rao", "+91 98765 43210")
    emit(hooks_app, admin.organization_id, "contact.created", {"contact_id": contact_id})
    [first] = receiver.wait_for(1)
    assert len(first["headers"]["webhook-signature"].split(" ")) == 2
    assert sorted(first["verified"]) == sorted([created["secret"], rotated])
    clock.advance(hours=24, seconds=1)
    emit(hooks_app, admin.organization_id, "contact.created", {"contact_id": contact_id})
    second = receiver.wait_for(2)[1]
    assert second["verified"] == [rotated] and len(second["headers"]["webhook-signature"].split(" ")) == 1


def test_the_signature_is_the_specifications_hmac(make_org, hooks_app, receiver):
    admin = make_org()
    created = add_endpoint(admin, receiver.url("/ok"))
    admin.post(f"/api/v1/webhooks/{created['id']}/test")
    [request] = receiver.wait_for(1)
    h = request["headers"]
    key = base64.b64decode(created["secret"].removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode()
                                         + request["body"], hashlib.sha256).digest()).decode()
    assert h["webhook-signature"] == f"v1,{expected}"
    assert json.loads(request["body"])["type"] == "webhook.test"


@pytest.mark.parametrize("url", [
    "http://10.0.0.5/hook", "http://192.168.1.1/hook", "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook", "http://0.0.0.0/hook", "http://224.0.0.1/hook", "http://240.0.0.1/hook",
    "http://[::ffff:10.0.0.1]/hook", "ftp://example.com/hook", "http://user:pw@example.com/hook",
])
def test_a_url_that_is_not_public_is_refused_at_save(make_org, hooks_app, url):
    admin = make_org()
    response = admin.post("/api/v1/webhooks", json={"url": url, "events": ["lead.created"]})
    assert response.status_code == 422, response.json
    assert admin.get("/api/v1/webhooks").json["items"] == []


def test_loopback_is_refused_unless_allowed(make_org, clean_app, receiver):
    admin = make_org()
    clean_app.config["WEBHOOK_ALLOW_LOOPBACK"] = False
    assert admin.post("/api/v1/webhooks", json={"url": receiver.url(), "events": ["lead.created"]}).status_code == 422
    clean_app.config["WEBHOOK_ALLOW_LOOPBACK"] = True
    assert admin.post("/api/v1/webhooks", json={"url": receiver.url(), "events": ["lead.created"]}).status_code == 201
    clean_app.config["WEBHOOK_ALLOW_LOOPBACK"] = True
    assert admin.post("/api/v1/webhooks", json={"url": "http://10.1.2.3/x",
                                                "events": ["lead.created"]}).status_code == 422


def test_a_host_resolving_to_a_private_address_is_refused_at_save(make_org, hooks_app):
    hooks_app.extensions["webhook_resolver"] = lambda host, port: ["93.184.216.34", "10.0.0.7"]
    try:
        admin = make_org()
        response = admin.post("/api/v1/webhooks", json={"url": "https://hooks.example.com/x",
                                                        "events": ["lead.created"]})
        assert response.status_code == 422 and "private" in json.dumps(response.json)
        hooks_app.extensions["webhook_resolver"] = lambda host, port: ["93.184.216.34"]
        assert admin.post("/api/v1/webhooks", json={"url": "https://hooks.example.com/x",
                                                    "events": ["lead.created"]}).status_code == 201
    finally:
        hooks_app.extensions.pop("webhook_resolver", None)


def test_unknown_events_and_list_parameters_are_refused(make_org, hooks_app, receiver):
    admin = make_org()
    assert admin.post("/api/v1/webhooks", json={"url": receiver.url(), "events": ["lead.exploded"]}).status_code == 422
    assert admin.post("/api/v1/webhooks", json={"url": receiver.url()}).status_code == 422
    assert admin.get("/api/v1/webhooks?q=x").status_code == 422


def test_only_admins_manage_webhooks(make_org, make_user, hooks_app, receiver):
    admin = make_org()
    manager = make_user(admin, role="manager")
    assert manager.post("/api/v1/webhooks", json={"url": receiver.url(), "events": ["lead.created"]}).status_code == 403
    assert manager.get("/api/v1/webhooks").status_code == 403


def test_another_organisations_endpoint_is_not_found(make_org, hooks_app, receiver):
    mine, theirs = make_org(), make_org()
    endpoint = add_endpoint(theirs, receiver.url("/ok"))
    delivery_id = theirs.post(f"/api/v1/webhooks/{endpoint['id']}/test").json["delivery_id"]
    base = f"/api/v1/webhooks/{endpoint['id']}"
    assert mine.get(base).status_code == 404
    assert mine.patch(base, json={"active": False}).status_code == 404
    assert mine.post(f"{base}/rotate-secret").status_code == 404
    assert mine.post(f"{base}/test").status_code == 404
    assert mine.get(f"{base}/deliveries").status_code == 404
    assert mine.post(f"{base}/deliveries/{delivery_id}/redeliver").status_code == 404
    assert mine.delete(base).status_code == 404
    assert mine.get("/api/v1/webhooks").json["items"] == []
    # Events of one organisation never reach another's endpoints.
    emit(mine.client.application, mine.organization_id, "lead.created", {"lead_id": 1})
    assert len(receiver.requests) == 1 and theirs.get(base).json["active"] is True


def test_patch_disables_and_enables_and_delete_removes(make_org, hooks_app, receiver):
    admin = make_org()
    endpoint = add_endpoint(admin, receiver.url("/ok"), ["lead.created"])
    base = f"/api/v1/webhooks/{endpoint['id']}"
    assert admin.patch(base, json={"active": False}).json["active"] is False
    emit(hooks_app, admin.organization_id, "lead.created", {"lead_id": 1})
    assert receiver.requests == []
    assert admin.post(f"{base}/test").status_code == 409
    updated = admin.patch(base, json={"active": True, "events": ["lead.approved", "lead.created"]}).json
    assert updated["active"] is True and updated["events"] == ["lead.approved", "lead.created"]
    assert admin.patch(base, json={"url": "http://10.0.0.1/x"}).status_code == 422
    assert admin.delete(base).status_code == 204
    assert admin.get(base).status_code == 404


def test_a_redelivery_keeps_its_webhook_id(make_org, hooks_app, receiver):
    admin = make_org()
    endpoint = add_endpoint(admin, receiver.url("/ok"))
    delivery_id = admin.post(f"/api/v1/webhooks/{endpoint['id']}/test").json["delivery_id"]
    response = admin.post(f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery_id}/redeliver")
    assert response.status_code == 202
    first, second = receiver.wait_for(2)
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    [item] = admin.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").json["items"]
    assert (item["status"], item["attempts"]) == ("delivered", 2)


def test_an_erased_number_is_never_sent_after_the_erasure(make_org, hooks_app, receiver):
    admin = make_org(region="IN")
    endpoint = add_endpoint(admin, receiver.url("/ok"), ["lead.created"])
    lead_id = add_lead(hooks_app, admin.organization_id, "Asha Rao", "+91 98765 43210")
    admin.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"active": False})
    emit(hooks_app, admin.organization_id, "lead.created", {"lead_id": lead_id})
    response = admin.post("/api/v1/erasure", json={"phone": "+91 98765 43210"})
    assert response.status_code in (200, 202), response.json
    admin.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"active": True})
    emit(hooks_app, admin.organization_id, "lead.created", {"lead_id": lead_id})
    for request in receiver.wait_for(1):
        assert b"98765" not in request["body"] and b"Asha" not in request["body"]


def test_the_openapi_section_documents_every_event_type():
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    from mobile_sync.webhooks.event_types import EVENT_TYPES
    from schemas.webhooks import webhooks_section

    spec = APISpec(title="t", version="1", openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    section = webhooks_section(spec)
    assert sorted(section) == sorted(EVENT_TYPES)
    assert "LeadData" in spec.to_dict()["components"]["schemas"]
