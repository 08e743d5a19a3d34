"""The integrations API as an admin uses it: connect (the token checked, then
never shown), rules, disconnect, the push log; an unknown CRM and another
organisation's connection are 404s; reps may not touch it; the token is in
no answer, log line or push row."""
from __future__ import annotations

import logging

from tests.crm.conftest import TOKEN, connection
from tests.phone_data import call_row


def test_every_crm_is_listed_connected_or_not(crm_app, make_org):
    admin = make_org()
    items = admin.get("/api/v1/integrations").json["items"]
    assert [(i["crm"], i["label"], i["connected"]) for i in items] == [("hubspot", "HubSpot", False),
                                                                       ("pipedrive", "Pipedrive", False)]


def test_connect_checks_the_token_and_keeps_it_sealed(crm_app, make_org, hubspot, caplog):
    admin = make_org()
    caplog.set_level(logging.DEBUG)
    bad = admin.put("/api/v1/integrations/hubspot", json={"token": "pat-na1-wrong-token"})
    assert bad.status_code == 422 and bad.json["error"]["fields"]["token"]
    assert admin.get("/api/v1/integrations").json["items"][0]["connected"] is False
    good = admin.put("/api/v1/integrations/hubspot", json={"token": TOKEN, "min_duration_s": 10})
    assert good.status_code == 200, good.json
    assert good.json["connected"] and good.json["status"] == "connected" and good.json["token_hint"] == "1234"
    assert good.json["call_types"] == ["incoming", "missed", "outgoing"] and good.json["min_duration_s"] == 10
    assert hubspot.requests[-1] == ("GET", "/crm/v3/objects/contacts")  # one cheap request
    stored = connection(crm_app)
    assert TOKEN not in stored.token and stored.token_hint == "1234"
    assert TOKEN not in caplog.text and TOKEN not in str(admin.get("/api/v1/integrations").json)


def test_an_unreachable_crm_is_a_clear_422_and_nothing_is_saved(crm_app, make_org):
    admin = make_org()
    crm_app.config["HUBSPOT_API_URL"] = "http://127.0.0.1:9"  # nothing listens there
    response = admin.put("/api/v1/integrations/hubspot", json={"token": TOKEN})
    assert response.status_code == 422 and response.json["error"]["code"] == "crm_unreachable"
    assert admin.get("/api/v1/integrations").json["items"][0]["connected"] is False


def test_bad_input_is_a_clear_4xx(connected):
    admin, _ = connected
    for body in ({"token": TOKEN, "call_types": ["voicemail"]}, {"token": TOKEN, "min_duration_s": -1},
                 {"token": TOKEN, "pull_every_h": 1000}, {"token": "short"}, {}, {"token": TOKEN, "extra": 1}):
        response = admin.put("/api/v1/integrations/hubspot", json=body)
        assert response.status_code == 422, (body, response.json)
    assert admin.patch("/api/v1/integrations/hubspot", json={"token": TOKEN}).status_code == 422
    assert admin.get("/api/v1/integrations/hubspot/pushes", query_string={"status": "odd"}).status_code == 422
    assert admin.get("/api/v1/integrations/hubspot/pushes", query_string={"limit": 0}).status_code == 422


def test_an_unknown_crm_is_a_404(connected):
    admin, _ = connected
    assert admin.put("/api/v1/integrations/salesforce", json={"token": TOKEN}).status_code == 404
    assert admin.patch("/api/v1/integrations/salesforce", json={"min_duration_s": 3}).status_code == 404
    assert admin.delete("/api/v1/integrations/salesforce").status_code == 404
    assert admin.post("/api/v1/integrations/salesforce/pull").status_code == 404
    assert admin.get("/api/v1/integrations/salesforce/pushes").status_code == 404
    # Known, but not connected: nothing to change, pull or list.
    assert admin.patch("/api/v1/integrations/pipedrive", json={"min_duration_s": 3}).status_code == 404
    assert admin.post("/api/v1/integrations/pipedrive/pull").status_code == 404
    assert admin.get("/api/v1/integrations/pipedrive/pushes").status_code == 404


def test_another_organisations_connection_is_not_reachable(connected, make_org, crm_app, hubspot):
    admin, rep = connected
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [call_row(1, "+91 91234 56789")]})
    other = make_org()
    # The path names a CRM: another organisation's admin reaches only their own (not connected) one.
    assert other.get("/api/v1/integrations/hubspot/pushes").status_code == 404
    assert other.patch("/api/v1/integrations/hubspot", json={"min_duration_s": 3}).status_code == 404
    assert other.delete("/api/v1/integrations/hubspot").status_code == 404
    assert other.post("/api/v1/integrations/hubspot/pull").status_code == 404
    assert other.get("/api/v1/integrations").json["items"][0]["connected"] is False
    assert len(admin.get("/api/v1/integrations/hubspot/pushes").json["items"]) == 1
    assert connection(crm_app).min_duration_s == 0


def test_reps_and_managers_may_not_manage_integrations(connected, make_user):
    admin, rep = connected
    manager = make_user(admin, role="manager")
    for actor in (rep, manager):
        assert actor.get("/api/v1/integrations").status_code == 403
        assert actor.put("/api/v1/integrations/hubspot", json={"token": TOKEN}).status_code == 403
        assert actor.delete("/api/v1/integrations/hubspot").status_code == 403


def test_the_push_log_pages_and_disconnecting_removes_it(connected, hubspot, crm_app):
    admin, rep = connected
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(i, "+91 91234 56789", duration=60) for i in range(1, 6)]})
    first = admin.get("/api/v1/integrations/hubspot/pushes", query_string={"limit": 2}).json
    assert len(first["items"]) == 2 and first["next_page"] == 2
    item = first["items"][0]
    assert set(item) == {"id", "subject_type", "subject_id", "status", "attempts", "last_status_code",
                         "last_error", "next_attempt_at", "external_id", "created_at", "delivered_at"}
    delivered = admin.get("/api/v1/integrations/hubspot/pushes", query_string={"status": "delivered"}).json
    assert len(delivered["items"]) == 5
    assert admin.delete("/api/v1/integrations/hubspot").status_code == 204
    assert admin.get("/api/v1/integrations/hubspot/pushes").status_code == 404
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b2", "calls": [
        call_row(9, "+91 91234 56789", duration=60)]})
    assert len(hubspot.calls) == 5  # nothing more is sent


def test_no_part_of_the_token_is_stored_in_clear(connected, crm_app, hubspot, request):
    """Read from the rows themselves: the whole database holds the token only sealed (and its last 4)."""
    from tests.api.test_erasure import database_dump

    admin, rep = connected
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [call_row(1, "+91 91234 56789")]})
    dump = database_dump(crm_app, request)
    secret = TOKEN[:-4]
    assert not [secret[i:i + 8] for i in range(len(secret) - 7) if secret[i:i + 8] in dump]
