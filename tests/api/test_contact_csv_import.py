"""Importing contacts from a CSV file (API and `flask import-contacts`): lines
counted and bad ones reported by line number, duplicates recognised, header
columns in any order, files refused that cannot be read, owners, erased
numbers, the record limit, the body limit, large files fully indexed, blocks
prepared by worker processes imported the same as in process, lines no
import can use reported without stopping it, and what was imported before a
failure kept (tests/api/test_contact_csv_import_at_scale.py: 64 MB files)."""
import pytest

from tests.api import contact_requests
from tests.api.contact_requests import create, csv_body, generated_lines, import_csv, who

team = contact_requests.team  # the fixture: pytest finds it under this name in this module


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
    (b"who,what\nAsha,9876543210\n", "header"),  # no column says it holds a name and phones
    (b"name,company,email,source,extra\n", "header"),
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
    assert import_csv(team["admin"], csv_body()).json == {
        "format": "callsync_csv", "mapping": {name: name for name in ("name", "company", "email", "source", "phones")},
        "dry_run": False, "imported": 0, "merged": 0, "skipped": 0, "duplicates": 0, "failed": 0, "errors": []}


def test_only_managers_and_admins_import(team):
    assert import_csv(team["rep"], csv_body("A,,,,9876543210")).status_code == 403
    assert import_csv(team["manager"], csv_body("A,,,,9876543210")).status_code == 200


def test_import_needs_a_file_not_json(team):
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
    from mobile_sync.store.models import ErasedNumber

    admin = team["admin"]
    with clean_app.app_context():
        key = clean_app.config["HASH_KEY"]
        db.session.add(ErasedNumber(organization_id=admin.organization_id,
                                    number_hash=number_hash(key, ERASED, admin.organization_id, "+919876543210")))
        db.session.commit()
    report = import_csv(admin, csv_body("Gone,,,,9123456789;9876543210", "Kept,,,,9123456780")).json
    assert (report["imported"], report["failed"]) == (1, 1) and report["errors"][0]["line"] == 2
    assert who(admin, "9123456789") is None


def test_an_import_over_the_record_limit_stores_nothing_past_it_and_keeps_what_came_before(
        team, clean_app, monkeypatch):
    from mobile_sync import contact_csv_file
    from server.extensions import db
    from mobile_sync.store.models import Organization

    admin = team["admin"]
    with clean_app.app_context():
        db.session.get(Organization, admin.organization_id).settings = {"record_limit": 5}
        db.session.commit()
    response = import_csv(admin, csv_body(*generated_lines(6)))
    assert response.status_code == 403 and response.json["error"]["code"] == "record_limit_reached"
    assert admin.get("/api/v1/contacts").json["items"] == []
    # The second block would cross the limit: the first, committed, stays, and the answer says so.
    monkeypatch.setattr(contact_csv_file, "CHUNK", 3)
    response = import_csv(admin, csv_body(*generated_lines(6)))
    assert response.status_code == 403 and response.json["error"]["code"] == "record_limit_reached"
    assert "3 contacts of this file, before line 5, were imported" in response.json["error"]["message"]
    assert sorted(c["name"] for c in admin.get("/api/v1/contacts").json["items"]) == [
        "Person 0", "Person 1", "Person 2"]
    with clean_app.app_context():
        db.session.get(Organization, admin.organization_id).settings = {"record_limit": 6}
        db.session.commit()
    again = import_csv(admin, csv_body(*generated_lines(6))).json
    assert (again["imported"], again["duplicates"]) == (3, 3)
    assert len(admin.get("/api/v1/contacts").json["items"]) == 6


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


def test_lines_that_cannot_be_read_are_reported_and_the_others_imported(team, monkeypatch):
    from mobile_sync import contact_csv_file

    monkeypatch.setattr(contact_csv_file, "PIECE", 64)  # the file read 64 bytes at a time: lines span pieces
    monkeypatch.setattr(contact_csv_file, "LINE_MAX", 1000)
    data = (csv_body("Asha Rao,,,,9876543210") + "\U0001F600\n".encode() * 3
            + b"Latin \xe9,,,,9876543211\n"                       # line 6: not UTF-8, after the file's start
            + b"Long," + b"x" * 5000 + b",,,9876543212\n"          # line 7: longer than LINE_MAX
            + "Zo\u00eb \U0001F600,,,,9876543213\r\n".encode()  # line 8
            + b"Nul\x00,,,,9876543214\n"                          # line 9
            + b'"Two\nLines",,,,9876543215\n'                     # lines 10-11
            + b"Bala,,,web,9876543216")                            # line 12, no newline at the end
    report = import_csv(team["admin"], data).json
    assert (report["imported"], report["duplicates"], report["failed"]) == (4, 0, 6)
    assert [(e["line"], e["message"]) for e in report["errors"]] == [
        (3, "Expected 5 fields, found 1."), (4, "Expected 5 fields, found 1."), (5, "Expected 5 fields, found 1."),
        (6, "The line is not UTF-8 text."), (7, "The line is longer than 1,000 characters."),
        (9, "Must not contain NUL characters.")]
    assert who(team["rep"], "9876543213")["name"] == "Zo\u00eb \U0001F600"
    assert who(team["rep"], "9876543215")["name"] == "Two\nLines"
    assert who(team["rep"], "9876543216")["source"] == "web"
    assert who(team["rep"], "9876543212") is None


def test_a_record_that_never_ends_stops_the_reading_and_keeps_what_came_before(team, monkeypatch):
    from mobile_sync import contact_csv_file

    monkeypatch.setattr(contact_csv_file, "PIECE", 1024)
    monkeypatch.setattr(contact_csv_file, "RECORD_MAX", 8 * 1024)
    never_ends = b'Open,"' + b'x\n","' * 5000  # quoted fields that keep opening: one record, on and on
    report = import_csv(team["admin"], csv_body(*generated_lines(3)) + never_ends).json
    assert (report["imported"], report["failed"]) == (3, 1)
    assert report["errors"][0]["line"] == 5 and "not read from this line on" in report["errors"][0]["message"]


def test_what_was_imported_before_a_failure_stays_and_a_retry_adds_only_the_rest(team, monkeypatch):
    from mobile_sync import contact_csv_file, contacts_csv

    admin, store, calls = team["admin"], contacts_csv.insert_contacts, []

    def failing_store(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the worker died")
        store(*args, **kwargs)

    monkeypatch.setattr(contact_csv_file, "CHUNK", 4)
    monkeypatch.setattr(contacts_csv, "insert_contacts", failing_store)
    data = csv_body(*generated_lines(12))
    assert import_csv(admin, data).status_code == 500
    kept = sorted(c["name"] for c in admin.get("/api/v1/contacts").json["items"])
    assert kept == sorted(f"Person {i}" for i in range(8))
    again = import_csv(admin, data).json
    assert (again["imported"], again["duplicates"], again["failed"]) == (4, 8, 0)
    listed = [c["name"] for page in (1, 2) for c in admin.get("/api/v1/contacts", query_string={"page": page}).json["items"]]
    assert sorted(listed) == sorted(f"Person {i}" for i in range(12))


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
    from mobile_sync import contact_csv_file, contact_csv_rows

    monkeypatch.setattr(contact_csv_file, "CHUNK", 7)  # many blocks, prepared ahead of the one being stored
    lines = generated_lines(60) + ["Bad,,,,12", "Person 3,,,,+91 98 0000 0003", "Tel,,,,tel:+44 20 7946 0958"]
    data = csv_body(*lines, *generated_lines(10, start=100))
    results = []
    for workers, parallel_min in ((1, 10_000), (3, 10)):
        monkeypatch.setattr(contact_csv_rows, "PARALLEL_MIN", parallel_min)
        clean_app.config["CSV_IMPORT_WORKERS"] = workers
        admin = make_org(region="IN")
        report = import_csv(admin, data).json
        listing = [(c["name"], c["company"], c["email"], c["phones"]) for page in (1, 2)
                   for c in admin.get("/api/v1/contacts", query_string={"page": page}).json["items"]]
        results.append((report, sorted(listing)))
    assert results[0] == results[1]
    report = results[0][0]
    assert (report["imported"], report["duplicates"], report["failed"]) == (71, 1, 1)


def test_imported_contacts_carry_the_time_of_the_import(team, clock):
    import_csv(team["admin"], csv_body("Asha Rao,Rao Traders,,expo,9876543210"))
    contact = team["admin"].get("/api/v1/contacts").json["items"][0]
    assert contact["created_at"] == contact["updated_at"] == "2026-11-20T09:00:00+00:00"
