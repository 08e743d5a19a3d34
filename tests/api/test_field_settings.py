"""Field realities (issue 21): work SIM only, private numbers, office hours
gating auto-leads, and phones that stopped syncing."""
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row

UNKNOWN = "+91 91234 56789"
HEALTH = {"battery_optimized": True, "autostart": False,
          "permissions": {"call_log": True, "contacts": True, "notifications": False}, "app_version": "2.1.0"}


def upload(actor, *rows, batch="b"):
    response = actor.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": list(rows)})
    assert response.status_code == 200, response.json
    return response.json


def rows_of(app, model, *where):
    from server.extensions import db

    with app.app_context():
        return db.session.execute(select(model).where(*where).order_by(model.id)).scalars().all()


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def device_item(actor, device_id):
    items = actor.get("/api/v1/devices").json["items"]
    return next(item for item in items if item["device_id"] == device_id)


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    return admin, make_device(make_user(admin, name="Ravi")), make_device(make_user(admin, name="Sita"))


# --- work SIM only ------------------------------------------------------------

def test_a_dual_sim_upload_keeps_only_the_tracked_accounts_calls(team, clean_app):
    from mobile_sync.store.models import Call

    admin, ravi, _ = team
    response = ravi.put(f"/api/v1/devices/{ravi.device_id}/tracking", json={"phone_account_ids": ["work-sim"]})
    assert response.status_code == 200
    assert response.json == {"device_id": ravi.device_id, "phone_account_ids": ["work-sim"]}
    work, personal = call_row(1, UNKNOWN), call_row(2, "+91 99887 76655")
    work["subscription_id"], personal["subscription_id"] = "work-sim", "personal-sim"
    named = {**call_row(3, UNKNOWN), "phone_account_id": "work-sim"}  # API.md's name for the column
    del named["subscription_id"]
    result = upload(ravi, work, personal, named)
    assert (result["accepted"], result["ignored"], result["rejected"]) == (2, 1, [])
    assert [(c.android_id, c.subscription_id) for c in rows_of(clean_app, Call)] == [(1, "work-sim"), (3, "work-sim")]
    assert device_item(admin, ravi.device_id)["phone_account_ids"] == ["work-sim"]
    # The same through the fast path (rows under `subscription_id` only).
    later = [{**call_row(10 + i, UNKNOWN), "subscription_id": sim} for i, sim in enumerate(["personal-sim", "work-sim"])]
    assert upload(ravi, *later, batch="fast")["ignored"] == 1
    assert [c.android_id for c in rows_of(clean_app, Call)] == [1, 3, 11]
    # Every account again: what was dropped is not brought back, only new rows come in.
    assert ravi.put(f"/api/v1/devices/{ravi.device_id}/tracking", json={}).json["phone_account_ids"] == []
    assert len(rows_of(clean_app, Call)) == 3
    assert upload(ravi, call_row(4), batch="b2")["ignored"] == 0
    assert len(rows_of(clean_app, Call)) == 4


def test_tracking_is_limited_and_only_for_the_phones_user_or_an_admin(team, make_org, make_device):
    admin, ravi, sita = team
    path = f"/api/v1/devices/{ravi.device_id}/tracking"
    assert ravi.put(path, json={"phone_account_ids": [str(i) for i in range(11)]}).status_code == 422
    assert ravi.put(path, json={"phone_account_ids": ["x" * 129]}).status_code == 422
    assert ravi.put(path, json={"phone_account_ids": ["a"], "other": 1}).status_code == 422
    assert sita.put(path, json={"phone_account_ids": ["a"]}).status_code == 404
    assert sita.put(path, device=True, json={"phone_account_ids": ["a"]}).status_code == 404
    stranger = make_device(make_org())
    assert stranger.put(path, json={"phone_account_ids": ["a"]}).status_code == 404
    assert admin.put(path, json={"phone_account_ids": ["a"]}).status_code == 200
    assert ravi.put(path, device=True, json={"phone_account_ids": ["b"]}).json["phone_account_ids"] == ["b"]


# --- private numbers ----------------------------------------------------------

def test_a_private_number_marked_after_its_calls_became_a_lead_takes_them_away(team, clean_app):
    from mobile_sync.store.models import Call, Lead, Note, Task
    from mobile_sync.store.models.devices import PrivateNumber

    admin, ravi, _ = team
    upload(ravi, call_row(1, UNKNOWN), call_row(2, UNKNOWN, type_=3, duration=0))
    [lead] = rows_of(clean_app, Lead)
    assert ravi.post(f"/api/v1/records/lead/{lead.id}/notes", json={"text": "my aunt"}).status_code == 201
    response = ravi.post("/api/v1/me/private-numbers", json={"number": "091234 56789"})
    assert response.status_code == 201
    assert response.json["number_hint"].endswith("89") and "91234" not in str(response.json)
    assert rows_of(clean_app, Lead) == [] and rows_of(clean_app, Call) == []
    assert rows_of(clean_app, Note) == [] and rows_of(clean_app, Task) == []
    assert admin.get(f"/api/v1/leads/{lead.id}").status_code == 404
    [stored] = rows_of(clean_app, PrivateNumber)
    assert "9123456789" not in stored.number_hash and len(stored.number_hash) == 64
    # Later calls with it are dropped at upload; never a lead again.
    result = upload(ravi, call_row(5, UNKNOWN), batch="later")
    assert (result["accepted"], result["ignored"]) == (0, 1)
    assert rows_of(clean_app, Lead) == [] and rows_of(clean_app, Call) == []
    assert [item["id"] for item in ravi.get("/api/v1/me/private-numbers").json["items"]] == [response.json["id"]]


def test_a_lead_with_another_reps_calls_stays_when_one_rep_marks_the_number(team, clean_app):
    from mobile_sync.store.models import Call, Lead

    _, ravi, sita = team
    upload(ravi, call_row(1, UNKNOWN))
    upload(sita, call_row(1, UNKNOWN, date=call_row(2)["date"]))
    assert ravi.post("/api/v1/me/private-numbers", json={"number": UNKNOWN}).status_code == 201
    [lead] = rows_of(clean_app, Lead)
    assert [c.user_id for c in rows_of(clean_app, Call)] == [sita.user_id]
    assert lead.calls_count == 1


def test_a_private_number_never_makes_a_lead_or_a_task_in_processing(team, clean_app):
    """Calls that reached processing all the same (stored before the number
    was marked, by a path other than the upload): the rules skip them."""
    from mobile_sync.callback_tasks import update_callback_tasks
    from mobile_sync.lead_rules import apply_auto_lead_rules
    from mobile_sync.store.calls import CallFacts
    from mobile_sync.store.models import Lead, Organization, Task
    from server.extensions import db

    admin, ravi, _ = team
    add_contact(clean_app, admin.organization_id, "Asha", "+91 99887 76655")
    assert ravi.post("/api/v1/me/private-numbers", json={"number": UNKNOWN}).status_code == 201
    assert ravi.post("/api/v1/me/private-numbers", json={"number": "+91 99887 76655"}).status_code == 201
    at = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    stranger = CallFacts(id=10**6, user_id=ravi.user_id, device_id=ravi.device_id, e164="+919123456789",
                         number_status="ok", call_type=1, duration_s=60, started_at=at, cached_name=None,
                         via_e164=None, outcome="unmatched")
    customer = CallFacts(id=10**6 + 1, user_id=ravi.user_id, device_id=ravi.device_id, e164="+919988776655",
                         number_status="ok", call_type=3, duration_s=0, started_at=at, cached_name=None,
                         via_e164=None, outcome="matched_contact", record_type="contact", record_id=1)
    with clean_app.app_context():
        org = db.session.get(Organization, admin.organization_id)
        key = clean_app.config["HASH_KEY"]
        apply_auto_lead_rules(db.session, org=org, calls=[stranger], now=at, hash_key=key)
        update_callback_tasks(db.session, organization_id=org.id, calls=[customer], now=at, hash_key=key)
        db.session.flush()
        assert stranger.outcome == "skip:private"
        assert db.session.execute(select(func.count()).select_from(Lead)).scalar_one() == 0
        assert db.session.execute(select(func.count()).select_from(Task)).scalar_one() == 0
        db.session.rollback()


def test_private_numbers_are_capped_at_1000_with_a_clear_message(team, clean_app):
    from mobile_sync.store.models.devices import PrivateNumber
    from server.extensions import db

    _, ravi, sita = team
    with clean_app.app_context():
        db.session.add_all(PrivateNumber(organization_id=ravi.organization_id, user_id=ravi.user_id,
                                         number_hash=f"{i:064x}", hint="…00") for i in range(1000))
        db.session.commit()
    response = ravi.post("/api/v1/me/private-numbers", json={"number": UNKNOWN})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "too_many_private_numbers" and "1000" in response.json["error"]["message"]
    assert ravi.post("/api/v1/me/private-numbers", json={"number": "not a number"}).status_code == 422
    assert ravi.post("/api/v1/me/private-numbers", json={"number": UNKNOWN, "x": 1}).status_code == 422
    mine = ravi.post("/api/v1/me/private-numbers", json={"number": "+91 90000 11111"})
    assert mine.status_code == 422  # still capped
    # Another user's cap is their own; their numbers are not Ravi's to remove.
    marked = sita.post("/api/v1/me/private-numbers", json={"number": UNKNOWN})
    assert marked.status_code == 201
    assert ravi.delete(f"/api/v1/me/private-numbers/{marked.json['id']}").status_code == 404
    assert sita.delete(f"/api/v1/me/private-numbers/{marked.json['id']}").status_code == 204
    assert sita.get("/api/v1/me/private-numbers").json["items"] == []


# --- office hours -------------------------------------------------------------

def set_hours(actor, zone, days, start, end):
    response = actor.patch("/api/v1/me", json={"timezone": zone,
                                               "office_hours": {"days": days, "start": start, "end": end}})
    assert response.status_code == 200, response.json


def outcome_of(app, android_id):
    from mobile_sync.store.models import Call

    [call] = rows_of(app, Call, Call.android_id == android_id)
    return call.outcome


def test_calls_outside_office_hours_make_leads_unless_the_organisation_says_skip(team, clean_app):
    admin, ravi, _ = team
    set_hours(ravi, "Asia/Kolkata", [0, 1, 2, 3, 4], "09:00", "18:00")
    kolkata = ZoneInfo("Asia/Kolkata")
    evening = datetime(2026, 11, 23, 21, 0, tzinfo=kolkata)  # a Monday, after hours
    upload(ravi, call_row(1, UNKNOWN, date=ms(evening)))
    assert outcome_of(clean_app, 1) == "lead_created"  # default "lead": nothing changes
    assert admin.patch("/api/v1/settings", json={"auto_leads": {"outside_office_hours": "skip"}}).status_code == 200
    assert admin.get("/api/v1/settings").json["auto_leads"]["outside_office_hours"] == "skip"
    upload(ravi, call_row(2, "+91 99887 76655", date=ms(evening)), batch="b2")
    assert outcome_of(clean_app, 2) == "skip:outside_office_hours"
    upload(ravi, call_row(3, "+91 99887 76655", date=ms(evening.replace(hour=10))), batch="b3")
    assert outcome_of(clean_app, 3) == "lead_created"
    assert admin.patch("/api/v1/settings", json={"auto_leads": {"outside_office_hours": "never"}}).status_code == 422


def test_office_hours_across_midnight(team, clean_app):
    admin, ravi, _ = team
    admin.patch("/api/v1/settings", json={"auto_leads": {"outside_office_hours": "skip"}})
    set_hours(ravi, "Asia/Kolkata", [0], "22:00", "06:00")  # Monday night shift
    kolkata = ZoneInfo("Asia/Kolkata")
    upload(ravi, call_row(1, UNKNOWN, date=ms(datetime(2026, 11, 24, 3, 0, tzinfo=kolkata))),      # Tue 03:00
           call_row(2, "+91 99887 76655", date=ms(datetime(2026, 11, 24, 7, 0, tzinfo=kolkata))),  # Tue 07:00
           call_row(3, "+91 90000 11111", date=ms(datetime(2026, 11, 24, 23, 0, tzinfo=kolkata))))  # Tue 23:00
    assert [outcome_of(clean_app, i) for i in (1, 2, 3)] == [
        "lead_created", "skip:outside_office_hours", "skip:outside_office_hours"]


def test_office_hours_keep_their_local_clock_across_dst(team, clean_app):
    admin, ravi, _ = team
    admin.patch("/api/v1/settings", json={"auto_leads": {"outside_office_hours": "skip"}})
    set_hours(ravi, "Europe/London", [0, 1, 2, 3, 4], "09:00", "17:00")
    utc = timezone.utc
    # Friday 27 March 2026 is GMT (09:30 local = 09:30 UTC); Monday 30 March is BST (09:30 local = 08:30 UTC).
    upload(ravi, call_row(1, UNKNOWN, date=ms(datetime(2026, 3, 27, 9, 30, tzinfo=utc))),
           call_row(2, "+91 99887 76655", date=ms(datetime(2026, 3, 30, 8, 30, tzinfo=utc))),
           call_row(3, "+91 90000 11111", date=ms(datetime(2026, 3, 30, 16, 30, tzinfo=utc))))  # 17:30 BST
    assert [outcome_of(clean_app, i) for i in (1, 2, 3)] == [
        "lead_created", "lead_created", "skip:outside_office_hours"]


def test_a_missed_call_outside_office_hours_opens_no_task_when_skipped(team, clean_app):
    from mobile_sync.store.models import Task

    admin, ravi, _ = team
    add_contact(clean_app, admin.organization_id, "Asha", UNKNOWN)
    admin.patch("/api/v1/settings", json={"auto_leads": {"outside_office_hours": "skip"}})
    set_hours(ravi, "Asia/Kolkata", [0, 1, 2, 3, 4], "09:00", "18:00")
    kolkata = ZoneInfo("Asia/Kolkata")
    upload(ravi, call_row(1, UNKNOWN, type_=3, duration=0, date=ms(datetime(2026, 11, 22, 11, 0, tzinfo=kolkata))))
    assert rows_of(clean_app, Task) == []  # a Sunday
    upload(ravi, call_row(2, UNKNOWN, type_=3, duration=0, date=ms(datetime(2026, 11, 23, 11, 0, tzinfo=kolkata))),
           batch="b2")
    assert len(rows_of(clean_app, Task)) == 1


# --- sync health --------------------------------------------------------------

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def test_a_silent_phone_is_flagged_and_cleared_by_its_next_upload(team, clock, clean_app):
    admin, ravi, _ = team
    clock.set(MONDAY_9)
    upload(ravi, call_row(1))
    clock.advance(hours=3, minutes=59)
    assert device_item(admin, ravi.device_id)["silent"] is False
    clock.advance(minutes=2)
    item = device_item(admin, ravi.device_id)
    assert item["silent"] is True and item["silent_since"].startswith("2026-11-23T13:00:00")
    upload(ravi, call_row(2), batch="b2")
    item = device_item(admin, ravi.device_id)
    assert item["silent"] is False and item["silent_since"] is None


def test_silence_counts_working_hours_and_not_days_off(team, clock, clean_app):
    admin, ravi, _ = team
    set_hours(ravi, "UTC", [0, 1, 2, 3, 4], "09:00", "18:00")
    clock.set(datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc))  # Friday 17:00
    upload(ravi, call_row(1))
    clock.set(datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc))  # Saturday: a day off
    assert device_item(admin, ravi.device_id)["silent"] is False
    clock.set(datetime(2026, 11, 30, 11, 30, tzinfo=timezone.utc))  # Monday: 1 h Friday + 2.5 h
    assert device_item(admin, ravi.device_id)["silent"] is False
    clock.set(datetime(2026, 11, 30, 12, 30, tzinfo=timezone.utc))
    item = device_item(admin, ravi.device_id)
    assert item["silent"] is True and item["silent_since"].startswith("2026-11-30T12:00:00")
    assert admin.patch("/api/v1/settings", json={"silent_after_hours": 8}).status_code == 200
    assert device_item(admin, ravi.device_id)["silent"] is False


def outbox(app) -> list[str]:
    folder = Path(app.config["OUTBOX_DIR"])
    return sorted(path.read_text() for path in folder.glob("*.eml")) if folder.exists() else []


def test_silent_phones_get_one_push_a_day_and_managers_one_digest(team, make_user, clock, clean_app, tmp_path):
    from mobile_sync.store.models import PushMessage
    from server.extensions import db
    from server.jobs import check_silent_phones

    admin, ravi, sita = team
    make_user(admin, role="manager", name="Meera")
    clean_app.config["OUTBOX_DIR"] = str(tmp_path)
    clock.set(MONDAY_9)
    upload(ravi, call_row(1))
    upload(sita, call_row(1))
    clock.advance(hours=5)
    upload(sita, call_row(2), batch="b2")  # Sita's phone keeps syncing

    def run():
        with clean_app.app_context():
            result = check_silent_phones()
            db.session.remove()
        return result

    assert run() == {"pushes": 1, "digests": 1, "emails": 2}
    nudges = rows_of(clean_app, PushMessage, PushMessage.kind == "sync_check")
    assert [(p.device_id, p.user_id) for p in nudges] == [(ravi.device_id, ravi.user_id)]
    assert set(nudges[0].data) == {"kind", "push_id", "v"}  # nothing personal
    mails = outbox(clean_app)
    assert len(mails) == 2 and all("Ravi" in mail and "Sita" not in mail for mail in mails)
    clock.advance(hours=1)
    assert run() == {"pushes": 0, "digests": 0, "emails": 0}  # once a day, however often it runs
    clock.advance(hours=24)
    upload(sita, call_row(3), batch="b4")
    assert run() == {"pushes": 1, "digests": 1, "emails": 2}  # a new day: asked again, a new digest
    upload(ravi, call_row(2), batch="b3")
    clock.advance(hours=1)
    assert run() == {"pushes": 0, "digests": 0, "emails": 0}


def test_the_app_reports_its_health_and_unknown_fields_are_refused(team, make_org, make_device, clean_app):
    admin, ravi, sita = team
    path = f"/api/v1/devices/{ravi.device_id}/health"
    assert ravi.post(path, device=True, json=HEALTH).status_code == 204
    item = device_item(admin, ravi.device_id)
    assert item["health"] == HEALTH and item["app_version"] == "2.1.0" and item["health_reported_at"]
    refused = ravi.post(path, device=True, json={**HEALTH, "rooted": True})
    assert refused.status_code == 422 and "rooted" in refused.json["error"]["fields"]
    nested = ravi.post(path, device=True, json={**HEALTH, "permissions": {**HEALTH["permissions"], "sms": True}})
    assert nested.status_code == 422
    assert ravi.post(path, device=True, json={**HEALTH, "autostart": "maybe"}).status_code == 422
    assert sita.post(path, device=True, json=HEALTH).status_code == 404       # another phone
    assert ravi.post(path, json=HEALTH).status_code in (401, 403)             # a user token is not the phone
    stranger = make_device(make_org())
    assert stranger.post(path, device=True, json=HEALTH).status_code == 404  # another organisation's


def test_another_organisations_device_is_404_everywhere(team, make_org, make_device):
    _, ravi, _ = team
    stranger = make_device(make_org())
    for method, suffix, body in (("PUT", "tracking", {"phone_account_ids": []}), ("POST", "health", HEALTH)):
        response = stranger.call(method, f"/api/v1/devices/{ravi.device_id}/{suffix}", device=suffix == "health",
                                 json=body)
        assert response.status_code == 404
    assert all(item["device_id"] != ravi.device_id for item in stranger.get("/api/v1/devices").json["items"])


def test_a_private_number_cannot_be_typed_in_as_a_lead_by_its_owner(team):
    _, ravi, sita = team
    assert ravi.post("/api/v1/me/private-numbers", json={"number": "+91 90000 55555"}).status_code == 201
    refused = ravi.post("/api/v1/leads", json={"name": "My brother", "phone": "090000 55555"})
    assert refused.status_code == 422 and "private" in refused.json["error"]["fields"]["phone"][0]
    assert ravi.get("/api/v1/leads").json["items"] == []
    # Private to Ravi only: a colleague may still enter the number.
    assert sita.post("/api/v1/leads", json={"name": "A customer", "phone": "090000 55555"}).status_code == 201
