"""The suppression list through the API (admin): numbers rejected as spam or
personal, listed newest first with what is still known of them, paged like
every list, and removed one by one; another organisation's are not found."""
from __future__ import annotations

import pytest


def reject(actor, name: str, phone: str, reason: str, owner=None) -> int:
    created = (owner or actor).post("/api/v1/leads", json={"name": name, "phone": phone})
    assert created.status_code == 201, created.json
    lead_id = created.json["id"]
    rejected = actor.post(f"/api/v1/leads/{lead_id}/reject", json={"reason": reason})
    assert rejected.status_code == 200, rejected.json
    return lead_id


@pytest.fixture
def rejected(make_org, make_user):
    """An admin whose reviewers rejected one lead as spam, one as personal (a rep's) and one as not a lead."""
    admin = make_org(region="IN")
    rep = make_user(admin, role="rep", name="Ravi Rep")
    ids = {"spam": reject(admin, "Prize Offer", "+91 90000 11111", "spam"),
           "personal": reject(admin, "Ravi's Mother", "+91 90000 22222", "personal", owner=rep),
           "not_a_lead": reject(admin, "Wrong Number", "+91 90000 33333", "not_a_lead")}
    return admin, rep, ids


def test_the_list_shows_reason_rep_date_and_the_rejected_lead(rejected):
    admin, rep, ids = rejected
    response = admin.get("/api/v1/suppressions")
    assert response.status_code == 200 and set(response.json) == {"items", "next_page"}
    items = response.json["items"]
    assert [item["reason"] for item in items] == ["personal", "spam"]  # newest first; "not a lead" suppresses nothing
    personal, spam = items
    assert (personal["user_id"], personal["user_name"], personal["lead_id"], personal["lead_name"],
            personal["number"]) == (rep.user_id, "Ravi Rep", ids["personal"], "Ravi's Mother", "+919000022222")
    assert (spam["user_id"], spam["lead_name"], spam["number"]) == (None, "Prize Offer", "+919000011111")
    assert spam["created_at"].endswith("+00:00")


def test_a_lead_that_is_gone_or_renumbered_no_longer_names_the_number(rejected, clean_app):
    from mobile_sync.store.models import Lead
    from server.extensions import db

    admin, _, ids = rejected
    with clean_app.app_context():
        db.session.get(Lead, ids["spam"]).phone = "+919000044444"
        db.session.delete(db.session.get(Lead, ids["personal"]))
        db.session.commit()
    personal, spam = admin.get("/api/v1/suppressions").json["items"]
    assert (spam["lead_name"], spam["number"]) == ("Prize Offer", None)
    assert (personal["lead_id"], personal["lead_name"], personal["number"]) == (None, None, None)


def test_removing_one_lets_the_number_through_and_is_audited(rejected):
    admin, _, ids = rejected
    spam = next(i for i in admin.get("/api/v1/suppressions").json["items"] if i["reason"] == "spam")
    assert admin.delete(f"/api/v1/suppressions/{spam['id']}").status_code == 204
    assert [i["reason"] for i in admin.get("/api/v1/suppressions").json["items"]] == ["personal"]
    assert admin.delete(f"/api/v1/suppressions/{spam['id']}").status_code == 404  # gone
    events = admin.get("/api/v1/audit").json["items"]
    assert ("suppression.remove", "suppression", spam["id"]) in [
        (e["action"], e["object_type"], e["object_id"]) for e in events]
    assert any(e["action"] == "suppression.list" and e["count"] == 2 for e in events)
    assert "90000" not in str(events) and "Prize" not in str(events)


def test_another_organisations_suppressions_are_not_found(rejected, make_org):
    admin, _, _ = rejected
    other = make_org(region="IN")
    assert other.get("/api/v1/suppressions").json == {"items": [], "next_page": None}
    for item in admin.get("/api/v1/suppressions").json["items"]:
        response = other.delete(f"/api/v1/suppressions/{item['id']}")
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert len(admin.get("/api/v1/suppressions").json["items"]) == 2


def test_only_admins_see_or_change_the_list(rejected, make_user):
    admin, rep, _ = rejected
    manager = make_user(admin, role="manager")
    item = admin.get("/api/v1/suppressions").json["items"][0]
    for actor in (manager, rep):
        assert actor.get("/api/v1/suppressions").status_code == 403
        assert actor.delete(f"/api/v1/suppressions/{item['id']}").status_code == 403
    assert len(admin.get("/api/v1/suppressions").json["items"]) == 2


def test_the_list_pages_and_refuses_what_it_does_not_know(make_org):
    admin = make_org(region="IN")
    for n in range(5):
        reject(admin, f"Spam {n}", f"+91 90000 5555{n}", "spam")
    first = admin.get("/api/v1/suppressions?limit=2").json
    assert len(first["items"]) == 2 and first["next_page"] == 2
    second = admin.get("/api/v1/suppressions?limit=2&page=2").json
    third = admin.get("/api/v1/suppressions?limit=2&page=3").json
    assert len(third["items"]) == 1 and third["next_page"] is None
    names = [i["lead_name"] for page in (first, second, third) for i in page["items"]]
    assert names == [f"Spam {n}" for n in range(4, -1, -1)]
    for query in ("bogus=1", "limit=0", "limit=201", "page=0", "reason=spam"):
        response = admin.get(f"/api/v1/suppressions?{query}")
        assert response.status_code == 422, query
    assert admin.delete(f"/api/v1/suppressions/{2**31}").status_code == 404
