"""Reports through the API: what managers and reps see, in the
organisation's days, kept exact when calls are uploaded late, erased,
purged or withdrawn, and bad input refused with a clear 422."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.phone_data import call_row

IST = ZoneInfo("Asia/Kolkata")  # an IN organisation's zone
ASHA, BALA, CHETAN = "+91 98765 43210", "+91 91234 56789", "+91 99887 76655"


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> int:
    """Epoch ms of a local (IST) time in 2026."""
    return int(datetime(2026, month, day, hour, minute, tzinfo=IST).timestamp() * 1000)


_ids = {"n": 0}


def upload(phone, *rows):
    calls = []
    for number, when, type_, duration in rows:
        _ids["n"] += 1
        calls.append(call_row(_ids["n"], number, type_=type_, duration=duration, date=when))
    response = phone.post("/api/v1/sync/calls", device=True, json={"batch_id": f"b{_ids['n']}", "calls": calls})
    assert response.status_code == 200, response.json
    assert response.json["accepted"] == len(rows)


def report(actor, kind: str, **query):
    query = {"from": "2026-11-01", "to": "2026-11-30", **query}
    return actor.get(f"/api/v1/reports/{kind}", query_string=query)


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    manager = make_user(admin, "manager")
    ravi = make_device(make_user(admin, name="Ravi"))
    sita = make_device(make_user(admin, name="Sita"))
    return {"admin": admin, "manager": manager, "ravi": ravi, "sita": sita}


def test_calls_are_counted_per_user_and_local_day(team):
    ravi, manager = team["ravi"], team["manager"]
    upload(ravi, (ASHA, at(20, 0, 30), 1, 60),      # 00:30 local: the 20th, though the 19th in UTC
           (ASHA, at(20, 11), 2, 30), (BALA, at(20, 12), 3, 0), (BALA, at(20, 13), 5, 0),
           (CHETAN, at(21, 9), 2, 0), (ASHA, at(21, 10), 6, 0))
    items = report(manager, "calls").json["items"]
    assert items == [
        {"user_id": ravi.user_id, "day": "2026-11-20", "incoming": 1, "outgoing": 1, "missed": 1, "rejected": 1,
         "connected": 2, "talk_seconds": 90, "unique_numbers": 2, "office_hours_calls": 0, "in_office_hours": 0,
         "office_hours_share": None},
        {"user_id": ravi.user_id, "day": "2026-11-21", "incoming": 0, "outgoing": 1, "missed": 0, "rejected": 1,
         "connected": 0, "talk_seconds": 0, "unique_numbers": 2, "office_hours_calls": 0, "in_office_hours": 0,
         "office_hours_share": None}]
    by_user = report(manager, "calls", group="user").json["items"]
    assert by_user[0]["unique_numbers"] == 3 and by_user[0]["incoming"] == 1 and "day" not in by_user[0]
    by_day = report(manager, "calls", group="day").json["items"]
    assert [item["day"] for item in by_day] == ["2026-11-20", "2026-11-21"] and "user_id" not in by_day[0]


def test_unique_numbers_across_users_and_days_are_never_summed(team):
    ravi, sita, manager = team["ravi"], team["sita"], team["manager"]
    upload(ravi, (ASHA, at(20, 10), 2, 10), (BALA, at(21, 10), 2, 10))
    upload(sita, (ASHA, at(20, 11), 2, 10), (ASHA, at(22, 11), 2, 10))
    by_day = {i["day"]: i["unique_numbers"] for i in report(manager, "calls", group="day").json["items"]}
    assert by_day == {"2026-11-20": 1, "2026-11-21": 1, "2026-11-22": 1}
    by_user = {i["user_id"]: i["unique_numbers"] for i in report(manager, "calls", group="user").json["items"]}
    assert by_user == {ravi.user_id: 2, sita.user_id: 1}


def test_a_missed_call_is_returned_by_anyone_even_after_the_range(team):
    ravi, sita, manager = team["ravi"], team["sita"], team["manager"]
    upload(ravi, (ASHA, at(20, 10), 3, 0), (BALA, at(20, 11), 3, 0), (CHETAN, at(20, 12), 3, 0))
    upload(sita, (ASHA, at(20, 10, 30), 1, 0),   # an incoming call that did not connect returns nothing
           (ASHA, at(20, 10, 45), 2, 0))         # a call back, even unanswered
    items = report(manager, "missed", to="2026-11-20").json["items"]
    assert items == [{"user_id": ravi.user_id, "missed": 3, "returned": 1, "unreturned": 2,
                      "median_callback_seconds": 45 * 60}]
    # Bala calls back on 2 December, after the range: the 20th's figure changes.
    upload(ravi, (BALA, at(2, 9, month=12), 1, 20))
    items = report(manager, "missed", to="2026-11-20").json["items"]
    assert items[0]["returned"] == 2 and items[0]["median_callback_seconds"] == (45 * 60 + (11 * 24 + 22) * 3600) / 2


def test_a_late_upload_returns_a_missed_call_sooner(team):
    ravi, sita, manager = team["ravi"], team["sita"], team["manager"]
    upload(ravi, (ASHA, at(20, 10), 3, 0), (ASHA, at(22, 10), 2, 5))
    assert report(manager, "missed").json["items"][0]["median_callback_seconds"] == 2 * 86400
    upload(sita, (ASHA, at(20, 10, 5), 2, 5))  # Sita's phone was offline: her call back was first
    assert report(manager, "missed").json["items"][0]["median_callback_seconds"] == 300


def test_a_rep_sees_only_their_own_figures(team):
    ravi, sita, admin = team["ravi"], team["sita"], team["admin"]
    upload(ravi, (ASHA, at(20, 10), 2, 10))
    upload(sita, (BALA, at(20, 10), 2, 10))
    assert {i["user_id"] for i in report(ravi, "calls").json["items"]} == {ravi.user_id}
    assert report(ravi, "calls", user_id=str(ravi.user_id)).status_code == 200
    refused = report(ravi, "calls", user_id=str(sita.user_id))
    assert refused.status_code == 403 and "own figures" in refused.json["error"]["message"]
    assert {i["user_id"] for i in report(admin, "calls").json["items"]} == {ravi.user_id, sita.user_id}
    team_of_two = report(admin, "calls", user_id=f"{ravi.user_id},{sita.user_id}", group="day").json["items"]
    assert team_of_two[0]["unique_numbers"] == 2


def test_another_organisations_user_is_not_found(team, make_org, make_user, make_device):
    other = make_device(make_user(make_org(region="IN")))
    upload(other, (ASHA, at(20, 10), 2, 10))
    response = report(team["admin"], "calls", user_id=str(other.user_id))
    assert response.status_code == 404
    assert report(team["admin"], "calls").json["items"] == []
    assert report(team["admin"], "missed").json["items"] == []


@pytest.mark.parametrize("query, field", [
    ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
    ({"from": "2026-02-30"}, "from"),
    ({"from": "2026-13-01"}, "from"),
    ({"from": "20261101"}, "from"),
    ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
    ({"group": "week"}, "group"),
    ({"format": "xml"}, "format"),
    ({"user": "3"}, "user"),
    ({"user_id": "me"}, "user_id"),
])
def test_bad_input_is_a_422_that_says_what_is_wrong(team, query, field):
    response = team["manager"].get("/api/v1/reports/calls", query_string={
        "from": "2026-11-01", "to": "2026-11-30", **query})
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json


def test_two_years_is_the_longest_range(team):
    assert report(team["manager"], "calls", **{"from": "2024-11-01", "to": "2026-10-31"}).status_code == 200
    assert report(team["manager"], "calls", **{"from": "2024-02-29", "to": "2026-02-28"}).status_code == 200
    response = report(team["manager"], "calls", **{"from": "2024-11-01", "to": "2026-11-01"})
    assert response.status_code == 422 and "at most 2 years" in response.json["error"]["message"]


def test_every_report_comes_as_csv_with_formula_safe_cells(team, clean_app):
    ravi, admin = team["ravi"], team["admin"]
    upload(ravi, (ASHA, at(20, 10), 3, 0), (ASHA, at(20, 11), 2, 10))
    from mobile_sync.store.models import Lead
    from server.extensions import db

    with clean_app.app_context():
        db.session.add(Lead(organization_id=admin.organization_id, name="X", phone="+919000000001",
                            source="=HYPERLINK(\"http://evil\")", status="approved", owner_id=ravi.user_id,
                            created_at=datetime(2026, 11, 20, 6, tzinfo=timezone.utc)))
        db.session.commit()
    for kind in ("calls", "missed", "leads"):
        response = report(admin, kind, format="csv")
        assert response.status_code == 200 and response.mimetype == "text/csv", kind
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert len(rows) >= 2, (kind, rows)
    leads = list(csv.DictReader(io.StringIO(report(admin, "leads", format="csv").get_data(as_text=True))))
    evil = [row for row in leads if "HYPERLINK" in row["source"]][0]
    assert evil["source"].startswith("'=") and evil["approved"] == "1"


def test_leads_by_source_with_their_first_response(team, clock):
    ravi, manager = team["ravi"], team["manager"]
    clock.set(datetime(2026, 11, 20, 6, tzinfo=timezone.utc))  # processing makes the lead now
    upload(ravi, ("+91 90000 12345", at(20, 10), 3, 0))  # an unknown number: a lead, pending review
    upload(ravi, ("+91 90000 12345", at(20, 10, 10), 2, 30))
    items = report(manager, "leads").json["items"]
    assert items == [{"source": "phone_call", "created": 1, "approved": 0, "rejected": 0, "merged": 0,
                      "pending": 1, "responded": 1, "median_first_response_seconds": 600}]


def test_erasure_removes_its_calls_from_the_figures(team):
    ravi, sita, admin = team["ravi"], team["sita"], team["admin"]
    upload(ravi, (ASHA, at(20, 10), 3, 0), (BALA, at(20, 11), 2, 30))
    upload(sita, (ASHA, at(20, 12), 2, 30), (BALA, at(20, 12, 30), 3, 0), (BALA, at(20, 13), 2, 10))
    assert admin.post("/api/v1/erasure", json={"phone": ASHA}).status_code == 200
    items = {i["user_id"]: i for i in report(admin, "calls", group="user").json["items"]}
    assert items[ravi.user_id]["missed"] == 0 and items[ravi.user_id]["unique_numbers"] == 1
    assert items[sita.user_id]["outgoing"] == 1 and items[sita.user_id]["talk_seconds"] == 10
    missed = report(admin, "missed").json["items"]
    assert missed == [{"user_id": sita.user_id, "missed": 1, "returned": 1, "unreturned": 0,
                       "median_callback_seconds": 1800}]


def test_erasing_a_call_back_leaves_the_missed_call_unreturned(team):
    ravi, sita, admin = team["ravi"], team["sita"], team["admin"]
    upload(ravi, (ASHA, at(20, 10), 3, 0))
    upload(sita, (ASHA, at(20, 11), 2, 30))
    assert report(admin, "missed").json["items"][0]["returned"] == 1
    # Sita withdraws call-log consent: her calls go, with the call back.
    from tests.api.test_safety_net_consent import POLICY
    response = sita.put(f"/api/v1/devices/{sita.device_id}/consent", device=True,
                        json={"contacts": True, "call_log": False, "policy_version": POLICY})
    assert response.status_code == 200, response.json
    assert report(admin, "missed").json["items"] == [
        {"user_id": ravi.user_id, "missed": 1, "returned": 0, "unreturned": 1, "median_callback_seconds": None}]
    assert {i["user_id"] for i in report(admin, "calls").json["items"]} == {ravi.user_id}


def test_retention_purges_old_days_from_the_figures(team, clean_app):
    ravi, admin = team["ravi"], team["admin"]
    upload(ravi, (ASHA, at(1, 10, month=10), 2, 30), (ASHA, at(20, 10), 2, 30))
    from mobile_sync.retention import purge_old_calls
    from server.extensions import db

    assert admin.patch("/api/v1/settings", json={"retention_days": 30}).status_code == 200
    with clean_app.app_context():
        purge_old_calls(db.session, datetime(2026, 11, 25, tzinfo=timezone.utc))
        db.session.commit()
    days = [i["day"] for i in report(admin, "calls", **{"from": "2026-09-01"}).json["items"]]
    assert days == ["2026-11-20"]


def test_rebuild_follows_a_new_time_zone(team, clean_app):
    ravi, admin = team["ravi"], team["admin"]
    upload(ravi, (ASHA, at(20, 3), 2, 30))  # 03:00 in Kolkata: 16:30 the day before in New York
    assert [i["day"] for i in report(admin, "calls").json["items"]] == ["2026-11-20"]
    assert admin.patch("/api/v1/settings", json={"timezone": "America/New_York"}).status_code == 200
    result = clean_app.test_cli_runner().invoke(args=["reports-rebuild", "--organization", str(admin.organization_id)])
    assert result.exit_code == 0, result.output
    assert [i["day"] for i in report(admin, "calls").json["items"]] == ["2026-11-19"]
    assert clean_app.test_cli_runner().invoke(args=["reports-rebuild"]).exit_code == 0


def test_office_hours_share_uses_the_users_own_zone(team, clean_app):
    ravi, admin = team["ravi"], team["admin"]
    from mobile_sync.store.models import User
    from server.extensions import db

    with clean_app.app_context():
        user = db.session.get(User, ravi.user_id)
        user.timezone, user.office_hours = "Asia/Dubai", {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}
        db.session.commit()
    # Friday 20 November 2026: 10:00 IST is 08:30 in Dubai (outside), 12:00 IST is 10:30 (inside).
    upload(ravi, (ASHA, at(20, 10), 2, 30), (ASHA, at(20, 12), 2, 30))
    item = report(admin, "calls").json["items"][0]
    assert (item["office_hours_calls"], item["in_office_hours"], item["office_hours_share"]) == (2, 1, 0.5)


HOURS = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}


def _share(admin):
    item = report(admin, "calls", group="user").json["items"][0]
    return item["office_hours_calls"], item["in_office_hours"], item["office_hours_share"]


def test_a_users_new_office_hours_or_zone_rebuild_their_share_by_itself(team):
    ravi, admin = team["ravi"], team["admin"]
    # Friday 20 November 2026: 10:00 IST is 08:30 in Dubai, 12:00 IST is 10:30 in Dubai.
    upload(ravi, (ASHA, at(20, 10), 2, 30), (ASHA, at(20, 12), 2, 30))
    assert _share(admin) == (0, 0, None)
    # Their own office hours (PATCH /me): read in the organisation's zone, both calls are inside.
    assert ravi.patch("/api/v1/me", json={"office_hours": HOURS}).status_code == 200
    assert _share(admin) == (2, 2, 1.0)
    # An admin gives them a zone of their own (PATCH /users/{id}): 08:30 in Dubai is outside.
    assert admin.patch(f"/api/v1/users/{ravi.user_id}", json={"timezone": "Asia/Dubai"}).status_code == 200
    assert _share(admin) == (2, 1, 0.5)
    # Hours removed: no call had office hours.
    assert ravi.patch("/api/v1/me", json={"office_hours": None}).status_code == 200
    assert _share(admin) == (0, 0, None)
    # A change of anything else rebuilds nothing (and changes nothing).
    assert ravi.patch("/api/v1/me", json={"name": "Ravi K"}).status_code == 200
    assert _share(admin) == (0, 0, None)


def test_a_range_defaults_to_the_last_30_days(team, clock):
    admin = team["admin"]
    clock.set(datetime(2026, 11, 25, 12, tzinfo=timezone.utc))
    body = admin.get("/api/v1/reports/calls").json
    assert (body["from"], body["to"], body["timezone"]) == ("2026-10-27", "2026-11-25", "Asia/Kolkata")


def test_a_new_time_zone_rebuilds_the_day_buckets_by_itself(team, clean_app):
    ravi, admin = team["ravi"], team["admin"]
    upload(ravi, (ASHA, at(20, 3), 2, 30))  # 03:00 in Kolkata: 16:30 the day before in New York
    assert [i["day"] for i in report(admin, "calls").json["items"]] == ["2026-11-20"]
    assert admin.patch("/api/v1/settings", json={"timezone": "America/New_York"}).status_code == 200
    # No command run: the change queued the rebuild (in process without Redis).
    assert [i["day"] for i in report(admin, "calls").json["items"]] == ["2026-11-19"]
    assert admin.patch("/api/v1/settings", json={"timezone": None}).status_code == 200  # back to the region's
    assert [i["day"] for i in report(admin, "calls").json["items"]] == ["2026-11-20"]


def test_the_report_by_user_and_day_leaves_the_garbage_collector_as_it_found_it(team):
    """The items are made with Python's cyclic collector paused: it runs
    again after, and a collector someone else paused stays paused."""
    import gc

    ravi, sita, manager = team["ravi"], team["sita"], team["manager"]
    upload(ravi, (ASHA, at(3, 10), 1, 60), (BALA, at(9, 11), 2, 30))  # days apart: a gap between a user's days
    upload(sita, (CHETAN, at(5, 9), 3, 0))
    assert gc.isenabled()
    items = report(manager, "calls").json["items"]
    assert gc.isenabled()
    assert [(item["user_id"], item["day"]) for item in items] == [
        (ravi.user_id, "2026-11-03"), (ravi.user_id, "2026-11-09"), (sita.user_id, "2026-11-05")]
    gc.disable()
    try:
        assert report(manager, "calls").json["items"] == items
        assert not gc.isenabled()
    finally:
        gc.enable()
