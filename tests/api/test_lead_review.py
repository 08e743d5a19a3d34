"""Reviewing leads: approve, reject (and what that suppresses), merge,
reassign, bulk, manual entry, visibility, notes, call-back tasks."""
import pytest
from sqlalchemy import select

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row

UNKNOWN = "+91 91234 56789"


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    manager = make_user(admin, "manager", name="Meera Manager")
    return admin, manager, make_device(make_user(admin, name="Ravi")), make_device(make_user(admin, name="Sita"))


def upload(rep, *rows, batch="b"):
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": list(rows)})
    assert response.status_code == 200, response.json
    return response.json


def lead_ids(actor, **query):
    response = actor.get("/api/v1/leads", query_string=query)
    assert response.status_code == 200, response.json
    return [lead["id"] for lead in response.json["items"]]


def test_reps_see_their_own_leads_managers_see_all(team):
    _, manager, ravi, sita = team
    upload(ravi, call_row(1, UNKNOWN))
    upload(sita, call_row(1, "+91 90000 12345"))
    (ravi_lead,) = lead_ids(ravi)
    (sita_lead,) = lead_ids(sita)
    assert sorted(lead_ids(manager)) == sorted([ravi_lead, sita_lead])
    assert ravi.get(f"/api/v1/leads/{sita_lead}").status_code == 404
    assert ravi.patch(f"/api/v1/leads/{sita_lead}", json={"name": "x"}).status_code == 404
    response = ravi.patch(f"/api/v1/leads/{ravi_lead}", json={"name": "Kiran", "company": "Kiran Steel"})
    assert response.status_code == 200 and response.json["company"] == "Kiran Steel"


def test_rep_cannot_review(team):
    _, _, ravi, _ = team
    upload(ravi, call_row(1, UNKNOWN))
    (lead_id,) = lead_ids(ravi)
    assert ravi.post(f"/api/v1/leads/{lead_id}/approve").status_code == 403


def test_filters(team, clock):
    _, manager, ravi, sita = team
    upload(ravi, call_row(1, UNKNOWN))
    clock.advance(days=2)
    upload(sita, call_row(1, "+91 90000 12345"))
    assert len(lead_ids(manager, owner_id=ravi.user_id)) == 1
    assert len(lead_ids(manager, status="pending_review")) == 2
    assert lead_ids(manager, status="approved") == []
    assert len(lead_ids(manager, since="2026-11-21T00:00:00+00:00")) == 1
    assert len(lead_ids(manager, source="phone_call")) == 2
    assert manager.get("/api/v1/leads", query_string={"status": "bogus"}).status_code == 422


def test_approve(team):
    _, manager, ravi, _ = team
    upload(ravi, call_row(1, UNKNOWN))
    (lead_id,) = lead_ids(manager)
    response = manager.post(f"/api/v1/leads/{lead_id}/approve")
    assert response.status_code == 200 and response.json["status"] == "approved"


def test_spam_is_never_a_lead_again_in_the_organisation(team, clean_app):
    _, manager, ravi, sita = team
    upload(ravi, call_row(1, UNKNOWN))
    (lead_id,) = lead_ids(manager)
    response = manager.post(f"/api/v1/leads/{lead_id}/reject", json={"reason": "spam"})
    assert response.json["status"] == "rejected" and response.json["reject_reason"] == "spam"
    _detach_lead_number(clean_app, lead_id)  # even if the old lead were gone, the number stays suppressed
    upload(sita, call_row(5, UNKNOWN))
    upload(ravi, call_row(6, UNKNOWN), batch="b2")
    assert lead_ids(manager) == [lead_id]
    assert _outcomes(clean_app)[-2:] == ["skip:spam", "skip:spam"]


def test_personal_only_stops_it_for_that_rep(team, clean_app):
    _, manager, ravi, sita = team
    upload(ravi, call_row(1, UNKNOWN))
    (lead_id,) = lead_ids(manager)
    manager.post(f"/api/v1/leads/{lead_id}/reject", json={"reason": "personal"})
    _detach_lead_number(clean_app, lead_id)
    upload(ravi, call_row(2, UNKNOWN), batch="b2")
    assert _outcomes(clean_app)[-1] == "skip:personal"
    upload(sita, call_row(3, UNKNOWN))
    assert _outcomes(clean_app)[-1] == "lead_created"


def _outcomes(app):
    from server.extensions import db
    from mobile_sync.store.models import Call

    with app.app_context():
        return [c.outcome for c in db.session.execute(select(Call).order_by(Call.id)).scalars()]


def _detach_lead_number(app, lead_id):
    """Simulate the lead being deleted: free its number from the index."""
    from mobile_sync.phone_index import remove_record_phones
    from server.clock import now
    from server.extensions import db
    from mobile_sync.store.models import Lead

    with app.test_request_context():
        lead = db.session.get(Lead, lead_id)
        remove_record_phones(db.session, organization_id=lead.organization_id, record_type="lead",
                             record_id=lead_id, now=now())
        lead.phone = None
        db.session.commit()


def test_merge_moves_every_call_and_note(team, clean_app):
    admin, manager, ravi, _ = team
    contact_id = add_contact(clean_app, admin.organization_id, "Kiran Kumar", "+91 90000 55555")
    upload(ravi, call_row(1, UNKNOWN), call_row(2, UNKNOWN, type_=3, duration=0))
    (lead_id,) = lead_ids(manager)
    assert ravi.post(f"/api/v1/records/lead/{lead_id}/notes", json={"text": "Asked for a catalogue"}).status_code == 201
    response = manager.post(f"/api/v1/leads/{lead_id}/merge", json={"into_type": "contact", "into_id": contact_id})
    assert response.status_code == 200 and response.json["status"] == "merged"
    from server.extensions import db
    from mobile_sync.store.models import Call, Note, RecordPhone, Task

    with clean_app.app_context():
        for model in (Call, Note, Task):
            left = db.session.execute(select(model).where(model.record_type == "lead",
                                                          model.record_id == lead_id)).scalars().all()
            assert left == [], model.__name__
        calls = db.session.execute(select(Call).where(Call.record_id == contact_id)).scalars().all()
        assert len(calls) == 2 and all(c.record_type == "contact" for c in calls)
        numbers = db.session.execute(select(RecordPhone.e164).where(RecordPhone.record_type == "contact",
                                                                    RecordPhone.record_id == contact_id)).scalars()
        assert sorted(numbers) == ["+919000055555", "+919123456789"]
    caller = ravi.get("/api/v1/caller-id", query_string={"number": UNKNOWN}).json["match"]
    assert (caller["record_type"], caller["record_id"], caller["last_note"]) == ("contact", contact_id,
                                                                                 "Asked for a catalogue")
    assert manager.post(f"/api/v1/leads/{lead_id}/approve").status_code == 409


def test_merge_into_another_organisations_record_is_404(team, make_org, clean_app):
    _, manager, ravi, _ = team
    other = make_org()
    foreign = add_contact(clean_app, other.organization_id, "Foreign", "+91 90000 77777")
    upload(ravi, call_row(1, UNKNOWN))
    (lead_id,) = lead_ids(manager)
    response = manager.post(f"/api/v1/leads/{lead_id}/merge", json={"into_type": "contact", "into_id": foreign})
    assert response.status_code == 404


def test_reassign_within_the_organisation_only(team, make_org, make_user):
    _, manager, ravi, sita = team
    upload(ravi, call_row(1, UNKNOWN))
    (lead_id,) = lead_ids(manager)
    response = manager.post(f"/api/v1/leads/{lead_id}/assign", json={"user_id": sita.user_id})
    assert response.status_code == 200 and response.json["owner_id"] == sita.user_id
    assert lead_ids(sita) == [lead_id] and lead_ids(ravi) == []
    outsider = make_user(make_org())
    assert manager.post(f"/api/v1/leads/{lead_id}/assign",
                        json={"user_id": outsider.user_id}).status_code == 422


def test_bulk_reports_per_id(team, make_org):
    _, manager, ravi, _ = team
    upload(ravi, call_row(1, UNKNOWN), call_row(2, "+91 90000 12345"))
    ids = lead_ids(manager)
    response = manager.post("/api/v1/leads/bulk", json={"ids": ids + [999999], "action": "reject", "reason": "spam"})
    assert response.status_code == 200
    results = {r["id"]: r for r in response.json["results"]}
    assert all(results[i]["status"] == "ok" for i in ids)
    assert results[999999]["code"] == "not_found"
    assert manager.post("/api/v1/leads/bulk", json={"ids": ids, "action": "reject"}).status_code == 422


def test_manual_lead_without_consent(make_org, make_user):
    admin = make_org(region="IN")
    rep = make_user(admin)
    response = rep.post("/api/v1/leads", json={"name": "Walk-in", "phone": "98450 12345", "note": "met at stall"})
    assert response.status_code == 201 and response.json["phone"] == "+919845012345"
    again = rep.post("/api/v1/leads", json={"name": "Again", "phone": "+91 98450 12345"})
    assert again.status_code == 409 and again.json["error"]["code"] == "lead_exists"
    detail = rep.get(f"/api/v1/leads/{response.json['id']}").json
    assert [n["text"] for n in detail["notes"]] == ["met at stall"]
    assert rep.post("/api/v1/leads", json={"name": "X", "phone": "123"}).status_code == 422


def test_missed_call_from_a_customer_opens_a_task_that_calling_back_closes(team, clean_app):
    admin, _, ravi, _ = team
    add_contact(clean_app, admin.organization_id, "Asha", "+91 98765 43210", owner_id=ravi.user_id)
    upload(ravi, call_row(1, "+91 98765 43210", type_=3, duration=0), call_row(2, "+91 98765 43210", type_=3,
                                                                             duration=0))
    tasks = ravi.get("/api/v1/tasks", query_string={"status": "open"}).json["items"]
    assert len(tasks) == 1 and tasks[0]["missed_count"] == 2 and tasks[0]["number"] == "+919876543210"
    upload(ravi, call_row(3, "098765 43210", type_=2, duration=30), batch="b2")
    assert ravi.get("/api/v1/tasks", query_string={"status": "open"}).json["items"] == []
    done = ravi.get("/api/v1/tasks", query_string={"status": "done"}).json["items"]
    assert done[0]["closed_reason"] == "called_back"


def test_tasks_across_batches_go_to_the_record_owner_and_count_every_miss(team, clean_app):
    admin, _, ravi, sita = team
    add_contact(clean_app, admin.organization_id, "Asha", "+91 98765 43210", owner_id=sita.user_id)
    add_contact(clean_app, admin.organization_id, "Bala", "+91 98450 11111", owner_id=sita.user_id)
    upload(ravi, call_row(1, "+91 98765 43210", type_=3, duration=0))
    upload(ravi, call_row(5, "098765 43210", type_=3, duration=0), batch="b2")
    (task,) = sita.get("/api/v1/tasks", query_string={"status": "open"}).json["items"]
    assert (task["missed_count"], task["owner_id"]) == (2, sita.user_id)
    assert ravi.get("/api/v1/tasks").json["items"] == []  # the owner's task, not the rep who missed it
    # Bala: missed then called back within one batch -> stored as done at once.
    # Asha: missed again in the same batch -> still open, counted.
    upload(ravi, call_row(7, "+91 98450 11111", type_=3, duration=0), call_row(8, "+91 98450 11111", type_=2),
           call_row(9, "+91 98765 43210", type_=3, duration=0), batch="b3")
    (open_task,) = sita.get("/api/v1/tasks", query_string={"status": "open"}).json["items"]
    assert open_task["id"] == task["id"] and open_task["missed_count"] == 3 and open_task["missed_at"] > task["missed_at"]
    (done,) = sita.get("/api/v1/tasks", query_string={"status": "done"}).json["items"]
    assert done["number"] == "+919845011111" and done["closed_reason"] == "called_back"
    upload(ravi, call_row(10, "+91 98765 43210", type_=2), batch="b4")
    assert sita.get("/api/v1/tasks", query_string={"status": "open"}).json["items"] == []
    closed = {t["number"]: t for t in sita.get("/api/v1/tasks", query_string={"status": "done"}).json["items"]}
    assert closed["+919876543210"]["missed_count"] == 3


def test_tasks_can_be_marked_done_by_their_owner_only(team, clean_app):
    admin, _, ravi, sita = team
    add_contact(clean_app, admin.organization_id, "Asha", "+91 98765 43210", owner_id=ravi.user_id)
    upload(ravi, call_row(1, "+91 98765 43210", type_=3, duration=0))
    (task,) = ravi.get("/api/v1/tasks").json["items"]
    assert sita.post(f"/api/v1/tasks/{task['id']}/done").status_code == 404
    response = ravi.post(f"/api/v1/tasks/{task['id']}/done")
    assert response.status_code == 200 and response.json["closed_reason"] == "done_by_user"


def test_another_organisations_manager_cannot_close_a_task(team, clean_app, make_org):
    admin, _, ravi, _ = team
    add_contact(clean_app, admin.organization_id, "Asha", "+91 98765 43210", owner_id=ravi.user_id)
    upload(ravi, call_row(1, "+91 98765 43210", type_=3, duration=0))
    (task,) = ravi.get("/api/v1/tasks").json["items"]
    stranger = make_org(region="IN")  # an admin: a manager of their own organisation only
    assert stranger.post(f"/api/v1/tasks/{task['id']}/done").status_code == 404
    (still,) = ravi.get("/api/v1/tasks").json["items"]
    assert still["status"] == "open"


def test_notes_on_records_the_user_may_not_see_are_404(team):
    _, manager, ravi, sita = team
    upload(ravi, call_row(1, UNKNOWN))
    (lead_id,) = lead_ids(manager)
    assert sita.post(f"/api/v1/records/lead/{lead_id}/notes", json={"text": "x"}).status_code == 404
    assert sita.post("/api/v1/records/planet/1/notes", json={"text": "x"}).status_code == 404


def test_a_managers_phone_sees_and_changes_only_their_own_leads(team):
    """The contract gives a device token the rep's own leads, whoever holds the phone."""
    from tests.conftest import Actor

    _, manager, ravi, _ = team
    upload(ravi, call_row(1, UNKNOWN))
    (lead_id,) = lead_ids(manager)
    response = manager.post("/api/v1/devices", json={"platform": "android", "fcm_token": "manager-phone"})
    assert response.status_code == 201
    phone = Actor(manager.client, manager.user_id, manager.organization_id, manager.email, manager.role,
                  manager.token, response.json["device_id"], response.json["device_token"])
    assert phone.get("/api/v1/leads", device=True).json["items"] == []
    assert phone.get(f"/api/v1/leads/{lead_id}", device=True).status_code == 404
    assert phone.patch(f"/api/v1/leads/{lead_id}", device=True, json={"name": "x"}).status_code == 404
    assert phone.post(f"/api/v1/records/lead/{lead_id}/notes", device=True, json={"text": "x"}).status_code == 404
    assert phone.post(f"/api/v1/leads/{lead_id}/approve", device=True).status_code in (401, 403)
    # The same manager's own token still sees everything.
    assert manager.get(f"/api/v1/leads/{lead_id}").status_code == 200
