"""A user's own time zone and office hours (GET, PATCH /me; an admin through
PATCH /users/{id}), the zone in effect for them, and an organisation's zone
set back to its region's."""
from __future__ import annotations

import pytest

WEEKDAYS = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}


def test_a_new_user_has_no_zone_or_hours_of_their_own_and_reads_times_in_the_organisations(make_org):
    me = make_org(region="IN").get("/api/v1/me").json
    assert (me["timezone"], me["effective_timezone"], me["office_hours"]) == (None, "Asia/Kolkata", None)
    assert {"name", "email", "role"} <= set(me)


def test_a_user_sets_and_clears_their_own_zone_and_hours(make_org, make_user):
    rep = make_user(make_org(region="IN"))
    night = {"days": [4, 0, 0], "start": "22:00", "end": "06:00"}
    changed = rep.patch("/api/v1/me", json={"timezone": "Europe/London", "office_hours": night})
    assert changed.status_code == 200, changed.json
    assert changed.json["timezone"] == changed.json["effective_timezone"] == "Europe/London"
    assert changed.json["office_hours"] == {"days": [0, 4], "start": "22:00", "end": "06:00"}
    assert rep.get("/api/v1/me").json["office_hours"] == {"days": [0, 4], "start": "22:00", "end": "06:00"}

    zone_only = rep.patch("/api/v1/me", json={"timezone": None}).json
    assert (zone_only["timezone"], zone_only["effective_timezone"]) == (None, "Asia/Kolkata")
    assert zone_only["office_hours"]["start"] == "22:00"  # untouched
    assert rep.patch("/api/v1/me", json={"office_hours": None}).json["office_hours"] is None


@pytest.mark.parametrize("body, field", [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "asia/kolkata"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"timezone": "x" * 65}, "timezone"),
    ({"timezone": 5}, "timezone"),
    ({"office_hours": {"days": [7], "start": "09:00", "end": "18:00"}}, "office_hours"),
    ({"office_hours": {"days": [0], "start": "24:00", "end": "18:00"}}, "office_hours"),
    ({"office_hours": {"days": [0], "start": "9am", "end": "18:00"}}, "office_hours"),
    ({"office_hours": {"days": [0], "start": "09:00"}}, "office_hours"),
    ({"office_hours": {**WEEKDAYS, "lunch": "13:00"}}, "office_hours"),
    ({"office_hours": "weekdays"}, "office_hours"),
])
def test_a_zone_that_is_not_iana_or_malformed_hours_are_a_422(make_org, make_user, body, field):
    admin = make_org()
    rep = make_user(admin)
    for response in (rep.patch("/api/v1/me", json=body), admin.patch(f"/api/v1/users/{rep.user_id}", json=body)):
        assert response.status_code == 422, response.json
        assert field in response.json["error"]["fields"]
    assert rep.get("/api/v1/me").json["timezone"] is None


def test_an_admin_sets_a_teammates_zone_and_hours(make_org, make_user):
    admin = make_org(region="IN")
    rep = make_user(admin)
    changed = admin.patch(f"/api/v1/users/{rep.user_id}", json={"timezone": "Asia/Dubai", "office_hours": WEEKDAYS})
    assert changed.status_code == 200, changed.json
    me = rep.get("/api/v1/me").json
    assert (me["timezone"], me["effective_timezone"], me["office_hours"]) == ("Asia/Dubai", "Asia/Dubai", WEEKDAYS)
    listed = {u["id"]: u for u in admin.get("/api/v1/users").json["items"]}[rep.user_id]
    assert (listed["timezone"], listed["office_hours"]) == ("Asia/Dubai", WEEKDAYS)
    assert admin.patch(f"/api/v1/users/{rep.user_id}", json={"timezone": None}).json["effective_timezone"] == \
        "Asia/Kolkata"
    # The admin's own hours through the same route: no role change, so allowed.
    assert admin.patch(f"/api/v1/users/{admin.user_id}", json={"office_hours": WEEKDAYS}).status_code == 200


def test_only_an_admin_of_the_same_organisation_sets_a_teammates_zone(make_org, make_user):
    admin, other = make_org(), make_org()
    rep = make_user(admin)
    manager = make_user(admin, role="manager")
    assert manager.patch(f"/api/v1/users/{rep.user_id}", json={"timezone": "Asia/Dubai"}).status_code == 403
    stranger = other.patch(f"/api/v1/users/{rep.user_id}", json={"timezone": "Asia/Dubai"})
    assert stranger.status_code == 404 and stranger.json["error"]["code"] == "not_found"
    assert rep.get("/api/v1/me").json["timezone"] is None


def test_a_user_without_a_zone_follows_the_organisations(make_org, make_user):
    admin = make_org(region="IN")
    rep = make_user(admin)
    admin.patch("/api/v1/settings", json={"timezone": "Asia/Singapore"})
    assert rep.get("/api/v1/me").json["effective_timezone"] == "Asia/Singapore"


def test_a_null_zone_sets_the_organisation_back_to_its_regions(make_org, make_user):
    admin = make_org(region="IN")
    rep = make_user(admin)
    assert admin.patch("/api/v1/settings", json={"timezone": "Europe/Paris"}).json["timezone"] == "Europe/Paris"
    reverted = admin.patch("/api/v1/settings", json={"timezone": None})
    assert reverted.status_code == 200 and reverted.json["timezone"] == "Asia/Kolkata"
    assert admin.get("/api/v1/settings").json["timezone"] == "Asia/Kolkata"
    assert rep.get("/api/v1/me").json["effective_timezone"] == "Asia/Kolkata"
    # Back to following the region, as before any zone was chosen.
    assert admin.patch("/api/v1/settings", json={"region": "GB"}).json["timezone"] == "Europe/London"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", 3])
def test_an_organisation_zone_that_is_not_iana_is_a_422(make_org, zone):
    admin = make_org(region="IN")
    response = admin.patch("/api/v1/settings", json={"timezone": zone})
    assert response.status_code == 422 and "timezone" in response.json["error"]["fields"]
    assert admin.get("/api/v1/settings").json["timezone"] == "Asia/Kolkata"


def test_the_contract_fields_are_in_the_published_document(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    user = schemas["User"]["properties"]
    assert {"timezone", "effective_timezone", "office_hours", "last_active_at"} <= set(user)
    assert {"timezone", "office_hours"} <= set(schemas["ProfileUpdate"]["properties"])
    assert {"timezone", "office_hours"} <= set(schemas["UserUpdate"]["properties"])
    assert {"invite_id", "email", "role", "expires_at"} <= set(schemas["Invite"]["properties"])
    listed = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/invites"]["get"]
    assert {p["name"] for p in listed["parameters"]} >= {"limit", "page"}
