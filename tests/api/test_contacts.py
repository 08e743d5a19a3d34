"""CRM contacts through the API: create, validate, list, search and read with
any token of the organisation; owners and roles; what a delete takes with it;
tenant isolation; and the access audit of reads, changes and imports."""
import pytest

from tests.api import contact_requests
from tests.api.contact_requests import create, csv_body, import_csv, who

team = contact_requests.team  # the fixture: pytest finds it under this name in this module


# --- CRUD --------------------------------------------------------------------

def test_a_rep_creates_a_contact_they_own_with_numbers_in_e164(team):
    rep = team["rep"]
    response = create(rep, company="Rao Traders", email=" Asha@Example.COM ", source="expo",
                      phones=["098765 43210", "+44 20 7946 0958", "+91 98765 43210"])
    assert response.status_code == 201, response.json
    contact = response.json
    assert contact["id"] > 0 and contact["owner_id"] == rep.user_id
    assert contact["phones"] == ["+919876543210", "+442079460958"]
    assert (contact["name"], contact["company"], contact["email"], contact["source"]) == (
        "Asha Rao", "Rao Traders", "asha@example.com", "expo")
    assert rep.get(f"/api/v1/contacts/{contact['id']}").json == contact


def test_caller_id_names_a_created_contact(team):
    contact = create(team["rep"], company="Rao Traders").json
    match = who(team["manager"], "+91 98765 43210")
    assert (match["record_type"], match["record_id"], match["name"], match["company"]) == (
        "contact", contact["id"], "Asha Rao", "Rao Traders")


@pytest.mark.parametrize("body, field", [
    ({"name": "X", "phones": ["12"]}, "phones"),
    ({"name": "X", "phones": ["+91 98765 43210", "not a number"]}, "phones"),
    ({"name": "X", "phones": []}, "phones"),
    ({"name": "X"}, "phones"),
    ({"name": "  ", "phones": ["9876543210"]}, "name"),
    ({"phones": ["9876543210"]}, "name"),
    ({"name": "X", "phones": ["9876543210"], "email": "nope"}, "email"),
    ({"name": "X", "phones": ["9876543210"], "colour": "red"}, "colour"),
    ({"name": "X" * 201, "phones": ["9876543210"]}, "name"),
])
def test_invalid_contacts_are_422_naming_the_field(team, body, field):
    response = team["rep"].post("/api/v1/contacts", json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]


def test_an_unusable_number_is_named_by_its_position(team):
    response = create(team["rep"], phones=["+91 98765 43210", "112"])
    assert response.json["error"]["fields"] == {"phones": {"1": ["Not a usable phone number (emergency)."]}}


def test_blank_optional_fields_are_stored_as_none(team):
    contact = create(team["rep"], company=" ", email="", source=None).json
    assert (contact["company"], contact["email"], contact["source"]) == (None, None, None)


def test_list_is_paged_newest_first(team):
    admin = team["admin"]
    ids = [create(admin, name=f"Person {i}", phones=[f"+91 98765 {i:05d}"]).json["id"] for i in range(53)]
    first = admin.get("/api/v1/contacts").json
    assert [c["id"] for c in first["items"]] == ids[::-1][:50] and first["next_page"] == 2
    second = admin.get("/api/v1/contacts", query_string={"page": 2}).json
    assert [c["id"] for c in second["items"]] == ids[::-1][50:] and second["next_page"] is None
    assert second["items"][0]["phones"] == ["+919876500002"]


def test_search_by_name_or_company_prefix_ignores_case(team):
    rep = team["rep"]
    asha = create(rep, name="Asha Rao", company="Zenith Tools", phones=["9876543210"]).json["id"]
    ashok = create(rep, name="ashok Kumar", phones=["9876543211"]).json["id"]
    bala = create(rep, name="Bala", company="ASHWIN & Co", phones=["9876543212"]).json["id"]
    create(rep, name="Rao Asha", phones=["9876543213"])
    create(rep, name="100% Cotton", phones=["9876543214"])

    def found(q):
        return sorted(c["id"] for c in rep.get("/api/v1/contacts", query_string={"q": q}).json["items"])

    assert found("ASH") == sorted([asha, ashok, bala])
    assert found("zen") == [asha]
    assert found("%") == [] and found("_sha") == []
    assert len(found("100%")) == 1


def test_list_filters_by_owner(team):
    rep, rep2, manager = team["rep"], team["rep2"], team["manager"]
    mine = create(rep, phones=["9876543210"]).json["id"]
    create(rep2, phones=["9876543211"])
    items = manager.get("/api/v1/contacts", query_string={"owner_id": rep.user_id}).json["items"]
    assert [c["id"] for c in items] == [mine]


def test_every_user_reads_every_contact_of_the_organisation(team):
    contact_id = create(team["rep2"]).json["id"]
    assert team["rep"].get(f"/api/v1/contacts/{contact_id}").status_code == 200
    assert [c["id"] for c in team["rep"].get("/api/v1/contacts").json["items"]] == [contact_id]


def test_a_device_token_reads_contacts_but_cannot_write(team, make_device):
    rep = make_device(team["rep"])
    contact_id = create(rep).json["id"]
    assert rep.get("/api/v1/contacts", device=True).status_code == 200
    assert rep.get(f"/api/v1/contacts/{contact_id}", device=True).status_code == 200
    for method, path in [("POST", "/api/v1/contacts"), ("PATCH", f"/api/v1/contacts/{contact_id}"),
                         ("DELETE", f"/api/v1/contacts/{contact_id}")]:
        response = rep.call(method, path, device=True, json={"name": "X", "phones": ["9876543219"]})
        assert response.status_code == 403 and response.json["error"]["code"] == "user_token_required"
    response = rep.post("/api/v1/contacts/import", device=True, data=csv_body("A,,,,9876543219"),
                        content_type="text/csv")
    assert response.status_code == 403


def test_without_a_token_contacts_are_401(client):
    assert client.get("/api/v1/contacts").status_code == 401
    assert client.post("/api/v1/contacts/import", data=csv_body("A,,,,9876543210"),
                       content_type="text/csv").status_code == 401


# --- owners and roles --------------------------------------------------------

def test_a_rep_cannot_give_a_contact_to_someone_else(team):
    rep, rep2 = team["rep"], team["rep2"]
    assert create(rep, owner_id=rep2.user_id).status_code == 403
    assert create(rep, owner_id=None).status_code == 403
    assert create(rep, owner_id=rep.user_id).json["owner_id"] == rep.user_id


def test_a_manager_assigns_an_owner_of_the_same_organisation_only(team, make_org):
    manager, rep = team["manager"], team["rep"]
    assert create(manager).json["owner_id"] == manager.user_id
    assert create(manager, owner_id=rep.user_id, phones=["9876543211"]).json["owner_id"] == rep.user_id
    assert create(manager, owner_id=None, phones=["9876543212"]).json["owner_id"] is None
    stranger = make_org()
    for owner_id in (stranger.user_id, 999_999):
        response = create(manager, owner_id=owner_id)
        assert response.status_code == 422 and "owner_id" in response.json["error"]["fields"]


def test_a_rep_edits_and_deletes_only_their_own_contacts(team):
    rep, rep2, manager = team["rep"], team["rep2"], team["manager"]
    theirs = create(rep2).json["id"]
    mine = create(rep, phones=["9876543211"]).json["id"]
    assert rep.patch(f"/api/v1/contacts/{theirs}", json={"name": "Mine now"}).status_code == 403
    assert rep.delete(f"/api/v1/contacts/{theirs}").status_code == 403
    assert rep.patch(f"/api/v1/contacts/{mine}", json={"name": "Renamed"}).json["name"] == "Renamed"
    response = rep.patch(f"/api/v1/contacts/{mine}", json={"owner_id": rep2.user_id})
    assert response.status_code == 403
    assert manager.patch(f"/api/v1/contacts/{theirs}", json={"owner_id": rep.user_id}).json["owner_id"] == rep.user_id
    assert rep.delete(f"/api/v1/contacts/{theirs}").status_code == 204
    assert manager.delete(f"/api/v1/contacts/{mine}").status_code == 204
    assert rep.get("/api/v1/contacts").json["items"] == []


def test_deleting_a_contact_deletes_its_notes_and_call_back_tasks(team, clean_app):
    from sqlalchemy import func, select

    from server.extensions import db
    from mobile_sync.store.models import Note, Task

    rep = team["rep"]
    contact_id = create(rep).json["id"]
    note = rep.post(f"/api/v1/records/contact/{contact_id}/notes", json={"text": "Wants a quote by Friday"})
    assert note.status_code == 201, note.json
    with clean_app.app_context():
        db.session.add(Task(organization_id=rep.organization_id, owner_id=rep.user_id, record_type="contact",
                            record_id=contact_id, e164="+919876543210", missed_at=func.now(), missed_count=1))
        db.session.commit()
    assert len(rep.get("/api/v1/tasks").json["items"]) == 1
    assert rep.delete(f"/api/v1/contacts/{contact_id}").status_code == 204
    assert rep.get("/api/v1/tasks").json["items"] == []
    with clean_app.app_context():
        for model in (Note, Task):
            assert db.session.execute(select(func.count()).select_from(model)).scalar() == 0


def test_another_organisations_contact_is_404_even_to_its_admin(team, make_org):
    other = make_org(region="IN")
    contact_id = create(other).json["id"]
    for actor in (team["admin"], team["rep"]):
        assert actor.get(f"/api/v1/contacts/{contact_id}").status_code == 404
        assert actor.patch(f"/api/v1/contacts/{contact_id}", json={"name": "Mine"}).status_code == 404
        assert actor.delete(f"/api/v1/contacts/{contact_id}").status_code == 404
        assert actor.get("/api/v1/contacts").json["items"] == []
    assert other.get(f"/api/v1/contacts/{contact_id}").json["name"] == "Asha Rao"
    assert who(team["admin"], "9876543210") is None


# --- the audit ----------------------------------------------------------------


def test_reads_changes_and_imports_of_contacts_are_audited_without_data(team):
    admin, rep = team["admin"], team["rep"]
    contact_id = create(rep).json["id"]
    rep.get("/api/v1/contacts")
    rep.get(f"/api/v1/contacts/{contact_id}")
    rep.patch(f"/api/v1/contacts/{contact_id}", json={"company": "Rao Traders"})
    import_csv(admin, csv_body("Bala,,,,9876543211", "Chitra,,,,9876543212"))
    rep.delete(f"/api/v1/contacts/{contact_id}")
    events = admin.get("/api/v1/audit").json["items"]
    seen = [(e["action"], e["object_type"], e["object_id"], e["count"], e["actor_user_id"]) for e in reversed(events)]
    assert seen == [("contact.list", "contact", None, 1, rep.user_id),
                    ("contact.read", "contact", contact_id, None, rep.user_id),
                    ("contact.update", "contact", contact_id, None, rep.user_id),
                    ("contact.import", "contact", None, 2, admin.user_id),
                    ("contact.delete", "contact", contact_id, None, rep.user_id)]
    assert "98765" not in str(events) and "Asha" not in str(events) and "Rao" not in str(events)
