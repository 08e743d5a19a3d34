"""GET /api/v1/leads/{id} carries the lead's review history: who created,
approved, rejected, merged, reassigned or edited it, and when; ids and codes
only. The history goes with its lead when the lead is erased."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row
from tests.web.conftest import upload_calls

ASHA, KIRAN = "+91 98765 43210", "+91 91234 56789"


@pytest.fixture
def leads_of(make_org, make_user, make_device):
    """Two leads from Ravi's calls; a manager, an admin and another rep."""
    admin = make_org(region="IN")
    manager = make_user(admin, role="manager", name="Meera Manager")
    ravi = make_device(make_user(admin, role="rep", name="Ravi Rep"))
    sita = make_device(make_user(admin, role="rep", name="Sita Rep"))
    upload_calls(ravi, [call_row(1, ASHA, name="Asha Rao"), call_row(2, KIRAN, name="Kiran Kumar")])
    ids = {item["phone"]: item["id"] for item in admin.get("/api/v1/leads").json["items"]}
    return (admin, manager, ravi, sita), ids["+919876543210"], ids["+919123456789"]


def history(actor, lead_id):
    response = actor.get(f"/api/v1/leads/{lead_id}")
    assert response.status_code == 200, response.json
    return response.json["history"]


def test_a_new_lead_has_its_creation_only(leads_of):
    (admin, manager, ravi, _), asha, _ = leads_of
    [created] = history(manager, asha)
    assert created["action"] == "created" and created["actor_id"] == ravi.user_id
    assert created["detail"] == {"from": "call"}
    assert datetime.fromisoformat(created["at"]).tzinfo is not None
    typed = ravi.post("/api/v1/leads", json={"name": "Walk-in", "phone": "+91 90000 77777"}).json["id"]
    assert history(ravi, typed) == [{**history(ravi, typed)[0], "action": "created", "actor_id": ravi.user_id,
                                     "detail": {"from": "manual"}}]


def test_every_review_action_is_in_the_history_in_order(clean_app, clock, leads_of):
    (admin, manager, ravi, sita), asha, kiran = leads_of
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc))
    assert manager.post(f"/api/v1/leads/{asha}/reject", json={"reason": "personal"}).status_code == 200
    assert manager.post(f"/api/v1/leads/{asha}/reject", json={"reason": "personal"}).status_code == 200  # no change
    clock.set(datetime(2026, 12, 1, 10, 5, tzinfo=timezone.utc))
    assert admin.post(f"/api/v1/leads/{asha}/approve").status_code == 200
    assert admin.post(f"/api/v1/leads/{asha}/assign", json={"user_id": sita.user_id}).status_code == 200
    assert admin.post(f"/api/v1/leads/{asha}/assign", json={"user_id": sita.user_id}).status_code == 200  # no change
    assert sita.patch(f"/api/v1/leads/{asha}", json={"company": "Rao Traders", "name": "Asha Rao"}).status_code == 200
    assert manager.post(f"/api/v1/leads/{asha}/reject", json={"reason": "spam"}).status_code == 409  # approved
    assert manager.post(f"/api/v1/leads/{kiran}/merge",
                        json={"into_type": "lead", "into_id": asha}).status_code == 200
    got = [(e["action"], e["actor_id"], e["detail"]) for e in history(manager, asha)]
    assert got[:4] == [
        ("created", ravi.user_id, {"from": "call"}),
        ("rejected", manager.user_id, {"reason": "personal"}),
        ("approved", admin.user_id, None),
        ("assigned", admin.user_id, {"from_user_id": ravi.user_id, "to_user_id": sita.user_id}),
    ]
    assert got[4][0] == "edited" and got[4][2] == {"fields": ["company"]}
    assert len(got) == 5
    assert [e["at"] for e in history(manager, asha)[1:3]] == ["2026-12-01T10:00:00+00:00",
                                                              "2026-12-01T10:05:00+00:00"]
    merged = history(manager, kiran)
    assert (merged[-1]["action"], merged[-1]["actor_id"], merged[-1]["detail"]) == (
        "merged", manager.user_id, {"into_type": "lead", "into_id": asha})


def test_an_edit_through_the_api_names_who_made_it(leads_of):
    (_, manager, _, _), asha, _ = leads_of
    assert manager.patch(f"/api/v1/leads/{asha}", json={"company": "Rao Traders"}).status_code == 200
    assert history(manager, asha)[-1]["actor_id"] == manager.user_id


def test_bulk_actions_write_one_row_per_lead_that_changed(leads_of):
    (admin, manager, _, sita), asha, kiran = leads_of
    assert admin.post(f"/api/v1/leads/{kiran}/approve").status_code == 200
    response = manager.post("/api/v1/leads/bulk", json={"ids": [asha, kiran, 999999], "action": "approve"})
    assert [r["status"] for r in response.json["results"]] == ["ok", "ok", "error"]
    assert [e["action"] for e in history(manager, asha)] == ["created", "approved"]
    assert [e["actor_id"] for e in history(manager, kiran)] == [history(manager, kiran)[0]["actor_id"],
                                                                admin.user_id]  # not approved twice
    manager.post("/api/v1/leads/bulk", json={"ids": [asha, kiran], "action": "assign", "user_id": sita.user_id})
    assert history(manager, kiran)[-1]["action"] == "assigned"


def test_the_history_holds_no_names_or_numbers(clean_app, leads_of):
    from sqlalchemy import select

    from mobile_sync.store.models.records import LeadEvent
    from server.extensions import db

    (admin, manager, _, sita), asha, _ = leads_of
    manager.post(f"/api/v1/leads/{asha}/reject", json={"reason": "spam"})
    manager.post(f"/api/v1/leads/{asha}/approve")
    admin.patch(f"/api/v1/leads/{asha}", json={"name": "Asha R. 98765", "email": "asha@example.com"})
    with clean_app.app_context():
        rows = db.session.execute(select(LeadEvent)).scalars().all()
        stored = " ".join(str(getattr(row, c.name)) for row in rows for c in LeadEvent.__table__.columns)
    assert "Asha" not in stored and "98765" not in stored and "example.com" not in stored
    assert {row.detail for row in rows} == {"spam", None, "name,email"}


def test_erasing_the_lead_erases_its_history(clean_app, leads_of):
    from sqlalchemy import func, select

    from mobile_sync.store.models.records import LeadEvent
    from server.extensions import db

    (admin, manager, _, sita), asha, kiran = leads_of
    contact = add_contact(clean_app, admin.organization_id, "Customer", "+91 99999 00000")
    manager.post(f"/api/v1/leads/{asha}/assign", json={"user_id": sita.user_id})
    manager.post(f"/api/v1/leads/{asha}/merge", json={"into_type": "contact", "into_id": contact})
    manager.post(f"/api/v1/leads/{kiran}/approve")

    def events(lead_id):
        with clean_app.app_context():
            return db.session.execute(select(func.count()).select_from(LeadEvent)
                                      .where(LeadEvent.lead_id == lead_id)).scalar_one()

    assert (events(asha), events(kiran)) == (2, 1)
    response = admin.post("/api/v1/erasure", json={"record_type": "contact", "record_id": contact})
    assert response.status_code == 200, response.json
    assert (events(asha), events(kiran)) == (0, 1)  # the merged lead went with the contact
    assert admin.post("/api/v1/erasure", json={"phone": KIRAN}).status_code == 200
    assert events(kiran) == 0
