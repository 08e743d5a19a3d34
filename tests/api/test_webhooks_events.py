"""The domain's changes reach the endpoints through the one hook: a contact
added, changed and deleted; a lead typed in, approved and assigned; an
upload processed (its new leads and its calls); an erasure (counts only,
and the erased number in no body after it); a phone whose call-log consent
was withdrawn sends no calls."""
from __future__ import annotations

import json

import pytest

from tests.api.test_webhooks_support import Receiver
from tests.phone_data import call_row

ALL = ["lead.created", "lead.approved", "lead.rejected", "lead.merged", "lead.assigned", "call.logged",
       "contact.created", "contact.updated", "contact.deleted", "task.created", "task.completed",
       "erasure.completed"]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hooked(clean_app, make_org, make_user, make_device, receiver):
    """An admin with an endpoint for every event type, and a rep with a consenting phone."""
    clean_app.config.update(WEBHOOK_ALLOW_LOOPBACK=True, WEBHOOK_TIMEOUT_S=2.0)
    admin = make_org(region="IN")
    created = admin.post("/api/v1/webhooks", json={"url": receiver.url("/ok"), "events": ALL}).json
    receiver.secrets.append(created["secret"])
    rep = make_device(make_user(admin, name="Ravi Rep"))
    return admin, rep


def events(receiver) -> list[tuple[str, dict]]:
    out = []
    for request in receiver.requests:
        assert request["verified"], "every delivery verifies"
        body = json.loads(request["body"])
        out.append((body["type"], body["data"]))
    return out


def test_contact_changes_are_sent(hooked, receiver):
    admin, _ = hooked
    contact = admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": ["+91 98765 43210"]})
    assert contact.status_code == 201, contact.json
    contact_id = contact.json["id"]
    admin.patch(f"/api/v1/contacts/{contact_id}", json={"company": "Rao Traders"})
    admin.delete(f"/api/v1/contacts/{contact_id}")
    sent = events(receiver)
    assert [t for t, _ in sent] == ["contact.created", "contact.updated", "contact.deleted"]
    assert sent[0][1]["phones"] == ["+919876543210"] and sent[0][1]["name"] == "Asha Rao"
    assert sent[2][1] == {"id": contact_id}


def test_a_lead_typed_in_approved_and_assigned_is_sent(hooked, receiver, make_user):
    admin, rep = hooked
    lead = admin.post("/api/v1/leads", json={"name": "Kiran Kumar", "phone": "+91 91234 56789"})
    assert lead.status_code == 201, lead.json
    lead_id = lead.json["id"]
    assert admin.post(f"/api/v1/leads/{lead_id}/approve").status_code == 200
    assert admin.post(f"/api/v1/leads/{lead_id}/assign", json={"user_id": rep.user_id}).status_code == 200
    sent = events(receiver)
    assert [t for t, _ in sent] == ["lead.created", "lead.approved", "lead.assigned"]
    assert sent[1][1]["status"] == "approved" and sent[2][1]["owner_id"] == rep.user_id
    assert all(data["id"] == lead_id for _, data in sent)


def test_a_processed_upload_sends_its_new_leads_and_its_calls(hooked, receiver):
    admin, rep = hooked
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(1, "+91 91234 56789", duration=60), call_row(2, "+91 91234 56789", type_=2, duration=30)]})
    assert response.status_code == 200, response.json
    sent = events(receiver)
    types = [t for t, _ in sent]
    assert types.count("call.logged") == 1 and types.count("lead.created") == 1
    logged = next(data for t, data in sent if t == "call.logged")
    assert [c["number"] for c in logged["calls"]] == ["+919123456789"] * 2
    assert {c["device_id"] for c in logged["calls"]} == {rep.device_id}


def test_an_erasure_is_sent_as_counts_and_the_number_never_again(hooked, receiver, clean_app):
    admin, rep = hooked
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(1, "+91 91234 56789", duration=60)]})
    before = len(receiver.requests)
    response = admin.post("/api/v1/erasure", json={"phone": "+91 91234 56789"})
    assert response.status_code == 200, response.json
    sent = events(receiver)[before:]
    assert [t for t, _ in sent] == ["erasure.completed"]
    assert sent[0][1]["calls"] == 1 and sent[0][1]["leads"] == 1
    # Redelivering what was sent before the erasure carries the number no more.
    endpoint_id = admin.get("/api/v1/webhooks").json["items"][0]["id"]
    for item in admin.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json["items"]:
        admin.post(f"/api/v1/webhooks/{endpoint_id}/deliveries/{item['id']}/redeliver")
    for request in receiver.requests[before + 1:]:
        assert b"91234" not in request["body"] and b"56789" not in request["body"]


def test_call_back_tasks_are_sent_when_opened_and_when_closed(hooked, receiver, clean_app):
    admin, rep = hooked
    contact = admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": ["+91 98765 43210"],
                                                   "owner_id": rep.user_id})
    assert contact.status_code == 201, contact.json
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(1, "+91 98765 43210", type_=3, duration=0)]})
    (task,) = rep.get("/api/v1/tasks").json["items"]
    created = [data for t, data in events(receiver) if t == "task.created"]
    assert [(d["id"], d["status"], d["number"]) for d in created] == [(task["id"], "open", "+919876543210")]
    # Called back on the phone: the task closes, and the close is an event.
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b2", "calls": [
        call_row(5, "+91 98765 43210", type_=2, duration=40)]})
    completed = [data for t, data in events(receiver) if t == "task.completed"]
    assert [(d["id"], d["status"]) for d in completed] == [(task["id"], "done")]
    # Another miss, closed by hand: one more of each.
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b3", "calls": [
        call_row(9, "+91 98765 43210", type_=3, duration=0)]})
    (second,) = rep.get("/api/v1/tasks", query_string={"status": "open"}).json["items"]
    assert rep.post(f"/api/v1/tasks/{second['id']}/done").status_code == 200
    assert rep.post(f"/api/v1/tasks/{second['id']}/done").status_code == 200  # again: no second event
    sent = events(receiver)
    assert [d["id"] for t, d in sent if t == "task.created"] == [task["id"], second["id"]]
    assert [d["id"] for t, d in sent if t == "task.completed"] == [task["id"], second["id"]]


def test_a_phone_without_call_log_consent_sends_no_calls(hooked, receiver, client):
    admin, rep = hooked
    version = client.get("/api/v1/consent/policy").json["version"]
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(1, "+91 91234 56789", duration=60)]})
    endpoint_id = admin.get("/api/v1/webhooks").json["items"][0]["id"]
    logged = [d for d in admin.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json["items"]
              if d["type"] == "call.logged"]
    assert rep.put(f"/api/v1/devices/{rep.device_id}/consent", device=True, json={
        "contacts": True, "call_log": False, "policy_version": version}).status_code == 200
    before = len(receiver.requests)
    admin.post(f"/api/v1/webhooks/{endpoint_id}/deliveries/{logged[0]['id']}/redeliver")
    assert all(json.loads(r["body"])["type"] != "call.logged" for r in receiver.requests[before:])
    [item] = [d for d in admin.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json["items"]
              if d["id"] == logged[0]["id"]]
    assert item["status"] == "cancelled"
