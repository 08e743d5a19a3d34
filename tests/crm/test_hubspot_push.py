"""HubSpot end to end: a processed upload's calls appear in the (fake) CRM
once, each associated with a contact found or created by phone; the rules
(call types, shortest call); an approved lead becomes a contact; an erased
number and a phone whose consent was withdrawn are never sent; a 429 backs
off, then goes through; a refused token marks the connection and loses
nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.crm.conftest import TOKEN, connection, pushes, sweep
from tests.phone_data import call_row


def upload(rep, batch: str, *calls):
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": list(calls)})
    assert response.status_code == 200, response.json
    return response


def test_a_processed_uploads_calls_appear_in_hubspot_once_with_their_contact(connected, hubspot, crm_app):
    admin, rep = connected
    existing = hubspot.add_contact("+919123456789", "Kiran", "Kumar")
    upload(rep, "b1", call_row(1, "+91 91234 56789", duration=60), call_row(2, "+91 91234 56789", type_=2,
                                                                             duration=30),
           call_row(3, "+91 99887 76655", type_=3, duration=0))
    calls = list(hubspot.calls.values())
    assert len(calls) == 3
    by_direction = sorted((c["properties"]["hs_call_direction"], c["properties"]["hs_call_status"],
                           c["properties"]["hs_call_duration"]) for c in calls)
    assert by_direction == [("INBOUND", "COMPLETED", "60000"), ("INBOUND", "NO_ANSWER", "0"),
                            ("OUTBOUND", "COMPLETED", "30000")]
    # The known number's calls went to its contact; the new number got a contact of its own.
    new = [i for i, c in hubspot.contacts.items() if c["phone"] == "+919988776655"]
    assert len(new) == 1 and len(hubspot.contacts) == 2
    assert sorted(c["contacts"][0] for c in calls) == sorted([existing, existing, new[0]])
    assert all(c["properties"]["hs_call_body"].endswith("(Ravi Rep)") for c in calls)
    # The push log says so; uploading the same rows again logs nothing twice.
    log = admin.get("/api/v1/integrations/hubspot/pushes").json["items"]
    assert sorted(p["status"] for p in log) == ["delivered"] * 3
    assert all(p["attempts"] == 1 and p["external_id"] for p in log)
    upload(rep, "b1", call_row(1, "+91 91234 56789", duration=60))
    sweep(crm_app)
    assert len(hubspot.calls) == 3
    described = admin.get("/api/v1/integrations").json["items"][0]
    assert described["crm"] == "hubspot" and described["pushes"] == {"delivered": 3}
    assert described["token_hint"] == TOKEN[-4:] and TOKEN not in str(described)


def test_the_rules_choose_the_calls(connected, hubspot, crm_app):
    admin, rep = connected
    response = admin.patch("/api/v1/integrations/hubspot", json={"call_types": ["outgoing", "incoming"],
                                                                 "min_duration_s": 20})
    assert response.status_code == 200, response.json
    assert response.json["call_types"] == ["incoming", "outgoing"] and response.json["min_duration_s"] == 20
    upload(rep, "b1", call_row(1, "+91 91234 56789", duration=60),  # incoming, long: sent
           call_row(2, "+91 91234 56789", type_=2, duration=5),  # outgoing, short: not
           call_row(3, "+91 91234 56789", type_=3, duration=0),  # missed: not
           call_row(4, "+91 91234 56789", type_=5, duration=0),  # rejected: not
           call_row(5, "+91 91234 56789", type_=2, duration=20))  # outgoing, exactly the minimum: sent
    assert sorted(c["properties"]["hs_call_duration"] for c in hubspot.calls.values()) == ["20000", "60000"]
    assert len(pushes(crm_app)) == 2


def test_an_approved_lead_becomes_a_contact_once(connected, hubspot, crm_app):
    admin, _ = connected
    lead = admin.post("/api/v1/leads", json={"name": "Asha Rao", "phone": "+91 98765 43210"}).json
    assert hubspot.contacts == {}  # not approved yet
    assert admin.post(f"/api/v1/leads/{lead['id']}/approve").status_code == 200
    [contact] = hubspot.contacts.values()
    assert (contact["phone"], contact["firstname"], contact["lastname"]) == ("+919876543210", "Asha", "Rao")
    [item] = pushes(crm_app)
    assert (item.subject_type, item.subject_id, item.status) == ("lead", lead["id"], "delivered")
    admin.patch("/api/v1/integrations/hubspot", json={"push_leads": False})
    other = admin.post("/api/v1/leads", json={"name": "Dev Shah", "phone": "+91 98765 40000"}).json
    admin.post(f"/api/v1/leads/{other['id']}/approve")
    assert len(hubspot.contacts) == 1


def test_an_erased_number_is_never_sent_after_the_erasure(connected, hubspot, crm_app):
    admin, rep = connected
    hubspot.token = "revoked"  # the first push fails on auth: the item waits
    upload(rep, "b1", call_row(1, "+91 91234 56789", duration=60), call_row(2, "+91 99887 76655", duration=60))
    assert hubspot.calls == {} and connection(crm_app).status == "auth_failed"
    assert admin.post("/api/v1/erasure", json={"phone": "+91 91234 56789"}).status_code == 200
    hubspot.token = TOKEN
    assert admin.put("/api/v1/integrations/hubspot", json={"token": TOKEN}).status_code == 200
    sweep(crm_app)
    numbers = [c["properties"].get("hs_call_from_number") for c in hubspot.calls.values()]
    assert numbers == ["+919988776655"]
    assert all("+919123456789" != c["phone"] for c in hubspot.contacts.values())
    statuses = {p.status for p in pushes(crm_app)}
    assert statuses <= {"delivered", "cancelled"}


def test_a_withdrawn_consent_stops_its_calls_being_sent(connected, hubspot, crm_app, client):
    admin, rep = connected
    hubspot.token = "revoked"
    upload(rep, "b1", call_row(1, "+91 91234 56789", duration=60))
    [item] = pushes(crm_app)
    assert item.status == "pending"
    version = client.get("/api/v1/consent/policy").json["version"]
    assert rep.put(f"/api/v1/devices/{rep.device_id}/consent", device=True, json={
        "contacts": True, "call_log": False, "policy_version": version}).status_code == 200
    hubspot.token = TOKEN
    admin.put("/api/v1/integrations/hubspot", json={"token": TOKEN})
    sweep(crm_app)
    assert hubspot.calls == {}
    rows = pushes(crm_app)
    assert all(p.status == "cancelled" for p in rows)


def test_a_429_backs_off_then_goes_through(connected, hubspot, crm_app, clock):
    admin, rep = connected
    hubspot.announce_budget = False  # no budget headers: the client learns of the window by a 429
    hubspot.limit = 4
    hubspot.reset_window()
    upload(rep, "b1", call_row(1, "+91 91234 56789", duration=60), call_row(2, "+91 91234 56789", duration=61),
           call_row(3, "+91 91234 56789", duration=62))
    assert 429 in hubspot.refused
    rows = pushes(crm_app)
    waiting = [p for p in rows if p.status == "pending"]
    assert waiting and all(p.last_status_code == 429 and p.last_error == "rate_limited" for p in waiting)
    assert all(p.next_attempt_at >= clock.now + timedelta(seconds=1) for p in waiting)
    assert all(p.attempts == 0 for p in waiting)  # a 429 is not a failed attempt
    status = admin.get("/api/v1/integrations").json["items"][0]
    assert status["last_error"] == "rate_limited" and status["paused_until"]
    assert sweep(crm_app) == 0  # not before the window
    hubspot.reset_window()
    clock.advance(seconds=15)
    hubspot.limit = 100
    assert sweep(crm_app) >= len(waiting)
    assert sorted(p.status for p in pushes(crm_app)) == ["delivered"] * 3
    assert len(hubspot.calls) == 3


def test_a_refused_token_marks_the_connection_and_loses_nothing(connected, hubspot, crm_app, clock):
    admin, rep = connected
    hubspot.token = "rotated-by-someone"
    upload(rep, "b1", call_row(1, "+91 91234 56789", duration=60), call_row(2, "+91 91234 56789", duration=60))
    status = admin.get("/api/v1/integrations").json["items"][0]
    assert (status["status"], status["last_status_code"]) == ("auth_failed", 401) and status["auth_failed_at"]
    assert [p.status for p in pushes(crm_app)] == ["pending", "pending"]
    clock.advance(hours=1)
    assert sweep(crm_app) == 0  # pushes stop while the token is refused
    # The admin pastes the new token: checked, saved, and what waited is sent.
    refused = admin.put("/api/v1/integrations/hubspot", json={"token": "still-the-old-one"})
    assert refused.status_code == 422 and "refused" in refused.json["error"]["message"]
    assert refused.json["error"]["fields"]["token"]
    hubspot.token = "pat-na1-new-token-9876"
    assert admin.put("/api/v1/integrations/hubspot", json={"token": "pat-na1-new-token-9876"}).status_code == 200
    assert [p.status for p in pushes(crm_app)] == ["delivered", "delivered"]
    assert len(hubspot.calls) == 2
    status = admin.get("/api/v1/integrations").json["items"][0]
    assert (status["status"], status["token_hint"], status["last_error"]) == ("connected", "9876", None)


def test_a_call_already_logged_is_found_again_not_logged_twice(connected, hubspot, crm_app, clock):
    """An attempt whose outcome is unknown (a timeout after the CRM logged
    the call) is followed by a look-up, not a second call log."""
    from mobile_sync.crm.client import TransientError
    from mobile_sync.crm.registry import client_for

    admin, rep = connected
    real = []

    def flaky(crm, token):
        client = client_for(crm, crm_app.config, token)
        if not real:
            original = client.log_call

            def log_then_time_out(person_id, call):
                original(person_id, call)
                raise TransientError("timeout")
            client.log_call = log_then_time_out
        real.append(client)
        return client

    crm_app.extensions["crm_client_factory"] = flaky
    upload(rep, "b1", call_row(1, "+91 91234 56789", duration=60))
    [item] = pushes(crm_app)
    assert (item.status, item.attempts, item.last_error) == ("pending", 1, "unavailable")
    clock.set(datetime.now(timezone.utc) + timedelta(hours=1))
    sweep(crm_app)
    [item] = pushes(crm_app)
    assert (item.status, item.attempts) == ("delivered", 2)
    assert len(hubspot.calls) == 1 and item.external_id in hubspot.calls
