"""CRM contacts: CRUD, roles, tenant isolation, the phone index and caller
ID, and the CSV import (API and `flask import-contacts`)."""
import pytest


HEADER = "name,company,email,source,phones"


def csv_body(*lines, header=HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def import_csv(actor, data: bytes, content_type="text/csv", **query):
    return actor.post("/api/v1/contacts/import", data=data, headers={"Content-Type": content_type},
                      query_string=query)


def generated_lines(count: int, start: int = 0) -> list[str]:
    """Distinct valid Indian mobiles; every third line has a second number."""
    lines = []
    for i in range(start, start + count):
        phones = f"+91 98{i:08d}" + (f";099{i:08d}" if i % 3 == 0 else "")
        lines.append(f"Person {i},Company {i % 50},p{i}@example.test,expo,{phones}")
    return lines


def who(actor, number):
    response = actor.get("/api/v1/caller-id", query_string={"number": number})
    assert response.status_code == 200, response.json
    return response.json["match"]


@pytest.fixture
def team(make_org, make_user):
    admin = make_org(region="IN")
    return {"admin": admin, "manager": make_user(admin, role="manager", name="Mona Manager"),
            "rep": make_user(admin, role="rep", name="Ravi Rep"), "rep2": make_user(admin, role="rep", name="Rita Rep")}


def create(actor, **fields):
    body = {"name": "Asha Rao", "phones": ["098765 43210"], **fields}
    return actor.post("/api/v1/contacts", json=body)


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
    from server.models import Note, Task

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


# --- the phone index ---------------------------------------------------------

def test_patching_phones_moves_caller_id_to_the_new_numbers(team):
    rep = team["rep"]
    contact_id = create(rep, phones=["9876543210"]).json["id"]
    response = rep.patch(f"/api/v1/contacts/{contact_id}", json={"phones": ["+91 91234 56789"]})
    assert response.json["phones"] == ["+919123456789"]
    assert who(rep, "9876543210") is None
    assert who(rep, "9123456789")["record_id"] == contact_id


def test_a_rename_reaches_the_phones_directory(team, make_device):
    rep = make_device(team["rep"])
    contact_id = create(rep, phones=["9876543210"]).json["id"]
    cursor = rep.get("/api/v1/directory", device=True).json["cursor"]
    rep.patch(f"/api/v1/contacts/{contact_id}", json={"name": "Asha R. Rao", "company": "Rao & Sons"})
    delta = rep.get("/api/v1/directory", device=True, query_string={"cursor": cursor}).json
    assert [(c["number"], c["name"], c["company"]) for c in delta["cards"]] == [
        ("+919876543210", "Asha R. Rao", "Rao & Sons")]


def test_deleting_a_contact_removes_it_from_caller_id_and_the_directory(team, make_device):
    rep = make_device(team["rep"])
    contact_id = create(rep, phones=["9876543210", "+44 20 7946 0958"]).json["id"]
    assert who(rep, "9876543210")["record_id"] == contact_id
    cursor = rep.get("/api/v1/directory", device=True).json["cursor"]
    assert rep.delete(f"/api/v1/contacts/{contact_id}").status_code == 204
    assert rep.get(f"/api/v1/contacts/{contact_id}").status_code == 404
    assert who(rep, "9876543210") is None and who(rep, "+442079460958") is None
    delta = rep.get("/api/v1/directory", device=True, query_string={"cursor": cursor}).json
    assert sorted(delta["removed"]) == ["+442079460958", "+919876543210"] and delta["cards"] == []


def test_deleting_one_contact_keeps_another_on_the_same_number(team):
    rep = team["rep"]
    first = create(rep, name="Front Desk", phones=["9876543210"]).json["id"]
    second = create(rep, name="Asha Rao", phones=["9876543210"]).json["id"]
    rep.delete(f"/api/v1/contacts/{first}")
    assert who(rep, "9876543210")["record_id"] == second


# --- CSV import ----------------------------------------------------------------

def test_import_counts_lines_and_reports_bad_ones_by_line_number(team):
    data = csv_body(
        "Asha Rao,Rao Traders,asha@example.com,expo,+91 98765 43210;022 2345 6789",  # 2
        ",No Name Ltd,,,9876543211",                                                  # 3
        "Bad Phone,,,,12345",                                                         # 4
        "",                                                                           # 5 blank: skipped
        '"Multi\nLine Name",,,,9876543212',                                           # 6-7
        "Bad Mail,,not-an-email,,9876543213",                                         # 8
        "Too,Many,Fields,,,9876543214",                                               # 9
        "No Phones,,,,",                                                              # 10
        "Bala,,,web,9876543215",                                                      # 11
    )
    response = import_csv(team["manager"], data)
    assert response.status_code == 200, response.json
    report = response.json
    assert (report["imported"], report["duplicates"], report["failed"]) == (3, 0, 5)
    assert [e["line"] for e in report["errors"]] == [3, 4, 8, 9, 10]
    messages = {e["line"]: e["message"] for e in report["errors"]}
    assert "name" in messages[3] and "phones" in messages[4] and "email" in messages[8]
    assert "fields" in messages[9] and "phones" in messages[10]
    match = who(team["rep"], "+91 22 2345 6789")
    assert (match["name"], match["company"], match["source"], match["owner"]) == (
        "Asha Rao", "Rao Traders", "expo", "Mona Manager")
    assert who(team["rep"], "9876543212")["name"] == "Multi\nLine Name"


def test_reimporting_the_same_file_adds_nothing(team):
    admin = team["admin"]
    lines = generated_lines(30) + ["Asha Rao,,,,9876543210", "ASHA RAO,,,,+91 98765 43210"]
    first = import_csv(admin, csv_body(*lines)).json
    assert (first["imported"], first["duplicates"], first["failed"]) == (31, 1, 0)
    again = import_csv(admin, csv_body(*lines)).json
    assert (again["imported"], again["duplicates"], again["failed"]) == (0, 32, 0)
    # A contact added by hand with the same name and number is a duplicate too.
    create(admin, name="Zara", phones=["9123456789"])
    assert import_csv(admin, csv_body("zara,,,,+91 91234 56789")).json["duplicates"] == 1
    assert admin.get("/api/v1/contacts", query_string={"page": 1}).json["next_page"] is None


def test_the_same_name_with_another_number_is_a_new_contact(team):
    admin = team["admin"]
    import_csv(admin, csv_body("Asha Rao,,,,9876543210"))
    assert import_csv(admin, csv_body("Asha Rao,,,,9876543211")).json["imported"] == 1


def test_import_header_columns_may_come_in_any_order(team):
    data = csv_body("9876543210,Asha Rao, expo ,,", header="Phones, NAME,source,email,company")
    assert import_csv(team["admin"], data).json["imported"] == 1
    assert who(team["admin"], "9876543210")["source"] == "expo"


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"  \n\n", "empty"),
    (b"name,phones\nAsha,9876543210\n", "header"),
    (b"name,company,email,source,phones,extra\n", "header"),
    ("name,company,email,source,phones\nJos\u00e9,,,,9876543210\n".encode("latin-1"), "UTF-8"),
])
def test_a_file_that_cannot_be_imported_is_422(team, data, message):
    response = import_csv(team["admin"], data)
    assert response.status_code == 422, response.json
    assert message in response.json["error"]["message"]


def test_a_utf8_file_with_a_byte_order_mark_is_read(team):
    data = "\ufeff".encode() + csv_body("Jos\u00e9 \u00c1lvarez,,,,9876543210")
    assert import_csv(team["admin"], data).json["imported"] == 1
    assert who(team["admin"], "9876543210")["name"] == "Jos\u00e9 \u00c1lvarez"


def test_a_header_only_file_imports_nothing(team):
    assert import_csv(team["admin"], csv_body()).json == {"imported": 0, "duplicates": 0, "failed": 0,
                                                          "errors": []}


def test_only_managers_and_admins_import(team):
    assert import_csv(team["rep"], csv_body("A,,,,9876543210")).status_code == 403
    assert import_csv(team["manager"], csv_body("A,,,,9876543210")).status_code == 200


def test_import_needs_a_csv_body(team):
    response = import_csv(team["admin"], b'{"name": "A"}', content_type="application/json")
    assert response.status_code == 415


def test_import_owner_defaults_to_the_importer_and_may_be_named(team, make_org):
    manager, rep = team["manager"], team["rep"]
    import_csv(manager, csv_body("A,,,,9876543210"))
    import_csv(manager, csv_body("B,,,,9876543211"), owner_id=rep.user_id)
    owners = {c["name"]: c["owner_id"] for c in manager.get("/api/v1/contacts").json["items"]}
    assert owners == {"A": manager.user_id, "B": rep.user_id}
    assert import_csv(manager, csv_body("C,,,,9876543212"), owner_id=make_org().user_id).status_code == 422


def test_an_erased_number_is_not_brought_back_by_an_import(team, clean_app):
    from mobile_sync.number_hash import ERASED, number_hash
    from server.extensions import db
    from server.models import ErasedNumber

    admin = team["admin"]
    with clean_app.app_context():
        key = clean_app.config["HASH_KEY"]
        db.session.add(ErasedNumber(organization_id=admin.organization_id,
                                    number_hash=number_hash(key, ERASED, admin.organization_id, "+919876543210")))
        db.session.commit()
    report = import_csv(admin, csv_body("Gone,,,,9123456789;9876543210", "Kept,,,,9123456780")).json
    assert (report["imported"], report["failed"]) == (1, 1) and report["errors"][0]["line"] == 2
    assert who(admin, "9123456789") is None


def test_an_import_over_the_record_limit_stores_nothing(team, clean_app, monkeypatch):
    from mobile_sync import contacts_csv
    from server.extensions import db
    from server.models import Organization

    admin = team["admin"]
    with clean_app.app_context():
        db.session.get(Organization, admin.organization_id).settings = {"record_limit": 5}
        db.session.commit()
    response = import_csv(admin, csv_body(*generated_lines(6)))
    assert response.status_code == 403 and response.json["error"]["code"] == "record_limit_reached"
    assert admin.get("/api/v1/contacts").json["items"] == []
    monkeypatch.setattr(contacts_csv, "CHUNK", 3)  # the second block crosses the limit: the first is not kept either
    assert import_csv(admin, csv_body(*generated_lines(6))).status_code == 403
    assert admin.get("/api/v1/contacts").json["items"] == []
    assert import_csv(admin, csv_body(*generated_lines(5))).json["imported"] == 5


def test_a_two_thousand_line_file_imports_with_every_number_indexed(team, make_device, monkeypatch):
    from mobile_sync import contacts_csv

    monkeypatch.setattr(contacts_csv, "ANALYZE_MIN", 1000)  # PostgreSQL: statistics refreshed in the transaction
    manager, rep = team["manager"], make_device(team["rep"])
    lines = generated_lines(2000)
    report = import_csv(manager, csv_body(*lines)).json
    assert (report["imported"], report["duplicates"], report["failed"]) == (2000, 0, 0)
    cursor, cards = 0, []
    while True:
        page = rep.get("/api/v1/directory", device=True, query_string={"cursor": cursor}).json
        cards += page["cards"]
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert len(cards) == 2000 + 667 and {c["record_type"] for c in cards} == {"contact"}
    match = who(team["rep"], "099 0000 1500")  # the second number of line 1502
    assert (match["record_type"], match["name"], match["company"]) == ("contact", "Person 1500", "Company 0")
    contact = manager.get(f"/api/v1/contacts/{match['record_id']}").json
    assert contact["phones"] == ["+919800001500", "+919900001500"] and contact["email"] == "p1500@example.test"
    assert import_csv(manager, csv_body(*lines)).json["duplicates"] == 2000


def test_errors_listed_are_capped_but_all_failures_counted(team):
    report = import_csv(team["admin"], csv_body(*[f"Bad {i},,,,1{i}" for i in range(1200)])).json
    assert report["failed"] == 1200 and len(report["errors"]) == 1000


def test_the_import_has_its_own_body_limit(team, clean_app):
    clean_app.config["MAX_CONTENT_LENGTH"] = 10_000
    data = csv_body(*generated_lines(500))
    assert len(data) > 10_000
    assert import_csv(team["admin"], data).json["imported"] == 500
    assert create(team["admin"], name="X" * 150, company="Y" * 150, phones=["9123456789"] * 20,
                  source="x" * 20_000).status_code == 413
    clean_app.config["CSV_IMPORT_MAX_BYTES"] = 10_000
    response = import_csv(team["admin"], data)
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"


# --- flask import-contacts -----------------------------------------------------

def test_the_flask_command_imports_a_file_with_the_same_rules(team, clean_app, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_bytes(csv_body(*generated_lines(20), "Bad,,,,123"))
    runner = clean_app.test_cli_runner()
    result = runner.invoke(args=["import-contacts", str(path), "--organization", str(team["admin"].organization_id)])
    assert result.exit_code == 0, result.output
    assert "imported 20, duplicates 0, failed 1" in result.output
    assert "line 22:" in result.output
    assert who(team["rep"], "9800000007")["name"] == "Person 7"
    result = runner.invoke(args=["import-contacts", str(path), "--organization", str(team["admin"].organization_id)])
    assert "imported 0, duplicates 20, failed 1" in result.output


def test_the_flask_command_may_name_an_owner_of_the_organisation(team, clean_app, tmp_path, make_org):
    path = tmp_path / "contacts.csv"
    path.write_bytes(csv_body("Asha Rao,,,,9876543210"))
    org_id, rep = str(team["admin"].organization_id), team["rep"]
    runner = clean_app.test_cli_runner()
    result = runner.invoke(args=["import-contacts", str(path), "--organization", org_id,
                                 "--owner", str(make_org().user_id)])
    assert result.exit_code != 0 and "No such owner" in result.output
    result = runner.invoke(args=["import-contacts", str(path), "--organization", org_id, "--owner", str(rep.user_id)])
    assert result.exit_code == 0, result.output
    assert [c["owner_id"] for c in rep.get("/api/v1/contacts").json["items"]] == [rep.user_id]


def test_the_flask_command_refuses_an_unknown_organisation_or_a_bad_file(team, clean_app, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"nope\n")
    runner = clean_app.test_cli_runner()
    result = runner.invoke(args=["import-contacts", str(path), "--organization", "424242"])
    assert result.exit_code != 0 and "No organisation" in result.output
    result = runner.invoke(args=["import-contacts", str(path), "--organization", str(team["admin"].organization_id)])
    assert result.exit_code != 0 and "header" in result.output
    assert team["admin"].get("/api/v1/contacts").json["items"] == []


def test_blocks_prepared_by_worker_processes_import_the_same_as_in_process(make_org, clean_app, monkeypatch):
    from mobile_sync import contacts_csv

    monkeypatch.setattr(contacts_csv, "CHUNK", 7)  # many blocks, prepared ahead of the one being stored
    lines = generated_lines(60) + ["Bad,,,,12", "Person 3,,,,+91 98 0000 0003", "Tel,,,,tel:+44 20 7946 0958"]
    data = csv_body(*lines, *generated_lines(10, start=100))
    results = []
    for workers, parallel_min in ((1, 10_000), (3, 10)):
        monkeypatch.setattr(contacts_csv, "PARALLEL_MIN", parallel_min)
        clean_app.config["CSV_IMPORT_WORKERS"] = workers
        admin = make_org(region="IN")
        report = import_csv(admin, data).json
        listing = [(c["name"], c["company"], c["email"], c["phones"]) for page in (1, 2)
                   for c in admin.get("/api/v1/contacts", query_string={"page": page}).json["items"]]
        results.append((report, sorted(listing)))
    assert results[0] == results[1]
    report = results[0][0]
    assert (report["imported"], report["duplicates"], report["failed"]) == (71, 1, 1)


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


def test_imported_contacts_carry_the_time_of_the_import(team, clock):
    import_csv(team["admin"], csv_body("Asha Rao,Rao Traders,,expo,9876543210"))
    contact = team["admin"].get("/api/v1/contacts").json["items"][0]
    assert contact["created_at"] == contact["updated_at"] == "2026-11-20T09:00:00+00:00"
