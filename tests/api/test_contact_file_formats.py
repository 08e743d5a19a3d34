"""Contact files in every format (tests/fixtures/contact_files/, written by
hand from each format's published headers): the format told from the
content, the contacts read checked through GET /api/v1/contacts; a dry run
that stores nothing; the mapping sent back; multipart uploads; bad files
refused with a 4xx, nothing stored; a file imported again merged, not
duplicated; and the flask command."""
import io
import json
import random
import zipfile
from pathlib import Path

import pytest

from tests.api import contact_requests
from tests.api.contact_requests import import_csv

team = contact_requests.team  # the fixture: pytest finds it under this name in this module

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "contact_files"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

ASHA = ("Asha Rao", "Rao Traders", "asha@example.com", ("+442079460958", "+912223456789", "+919876543210"))
VIKRAM = ("Vikram K. Iyer", "Iyer & Sons, Chennai", "vikram@example.in", ("+919900112233",))
HINDI = ("आशा राव", "भारत ट्रेडर्स", None, ("+919812345678",))
CHINESE = ("王小明", "北京贸易有限公司", "xiaoming@example.cn", ("+8613800138000",))

# file, content type sent, format detected, contacts (name, company, email, E.164 numbers), failed lines
FORMATS = [
    ("google_contacts.csv", "text/csv", "google_csv",
     {("Asha Rao", "Rao Traders, Pune", "asha@example.com", ASHA[3]), HINDI, CHINESE}, [5]),
    ("google_contacts_legacy.csv", "text/csv", "google_csv",
     {("Rao, Asha", *ASHA[1:]), ("Vikram K. Iyer", None, None, VIKRAM[3])}, []),
    ("outlook.csv", "text/csv", "outlook_csv", {ASHA, VIKRAM}, []),
    ("outlook_semicolon.csv", "application/vnd.ms-excel", "outlook_csv",
     {("José Álvarez", "Álvarez; Hijos", "jose@example.es", ("+442079460958",)),
      ("Müller", "Müller GmbH", None, ("+919876543210",))}, []),
    ("hubspot.csv", "text/csv", "hubspot_csv",
     {("Asha Rao", "Rao Traders", "asha@example.com", ("+912223456789", "+919876543210"), "Offline Sources"),
      ("Vikram Iyer", *VIKRAM[1:], "Organic Search")}, [4]),
    ("pipedrive.csv", "text/csv", "pipedrive_csv",
     {ASHA, ("Iyer, Vikram", None, "vikram@home.example", VIKRAM[3])}, []),
    ("vcard_2_1.vcf", "text/x-vcard", "vcard",
     {("आशा राव", "भारत", None, ("+442079460958", "+912223456789", "+919812345678")),
      ("Vikram K. Iyer", None, "vikram@example.in", VIKRAM[3])}, [21]),
    ("vcard_3_0.vcf", "text/vcard", "vcard",
     {("Asha Rao (Rao Traders, Pune)", "Rao Traders, Pune", "asha@example.com", ASHA[3]),
      ("王小明", "北京贸易有限公司", None, CHINESE[3])}, [22]),
    ("vcard_4_0.vcf", "application/octet-stream", "vcard",
     {("Vikram Iyer", "Iyer & Sons", "vikram@example.in", ("+918041102030", "+919900112233")),
      ("Zoë Schmidt", None, None, ("+61293744000",))}, []),
    ("callsync_semicolon_bom.csv", "text/csv", "callsync_csv",
     {("Asha Rao", "Rao Traders; Pune", "asha@example.com", ("+912223456789", "+919876543210"), "expo"),
      ("Iyer, Vikram", None, None, VIKRAM[3], "web")}, []),
    ("any_columns.csv", "text/plain", "csv",
     {("Asha Rao", "Rao Traders", "asha@example.com", ("+919876543210",)),
      ("Zoë Schmidt", None, None, ("+61293744000",))}, []),
    ("excel_unicode_text.txt", "text/plain", "csv", {HINDI, CHINESE}, []),  # UTF-16 LE, BOM, tabs
]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def contacts_of(actor, with_source: bool = False) -> set[tuple]:
    listed, page = [], 1
    while page:
        answer = actor.get("/api/v1/contacts", query_string={"page": page}).json
        listed += answer["items"]
        page = answer["next_page"]
    return {(c["name"], c["company"], c["email"], tuple(sorted(c["phones"])))
            + ((c["source"],) if with_source else ()) for c in listed}


def expected(contacts: set[tuple]) -> tuple[set[tuple], bool]:
    with_source = any(len(c) == 5 for c in contacts)
    return {c if len(c) == 5 or not with_source else (*c, None) for c in contacts}, with_source


def workbook(rows: list[list], sheet_title: str = "Contacts") -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = sheet_title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX_ROWS = [
    ["First Name", "Last Name", "Company", "E-mail Address", "Mobile Phone", "Business Phone"],
    ["Asha", "Rao", "Rao Traders", "asha@example.com", 919876543210, "022 2345 6789"],  # a number stored as one
    [None, None, None, None, None, None],
    ["आशा", "राव", "=HYPERLINK(\"http://example.com\",\"Evil\")", None, "98123 45678", None],  # a formula
    ["小明", "王", "北京贸易有限公司", "xiaoming@example.cn", "+86 138 0013 8000", None],
    ["Bad", "Number", None, None, "12345", None],
]


# --- every format -------------------------------------------------------------

@pytest.mark.parametrize("name, content_type, format_, contacts, failed", FORMATS, ids=[f[0] for f in FORMATS])
def test_every_format_imports_its_contacts(team, name, content_type, format_, contacts, failed):
    manager = team["manager"]
    response = import_csv(manager, fixture(name), content_type=content_type)
    assert response.status_code == 200, response.json
    report = response.json
    assert (report["format"], report["imported"], report["merged"], report["skipped"]) == (
        format_, len(contacts), 0, len(failed)), report
    assert [e["line"] for e in report["errors"]] == failed
    wanted, with_source = expected(contacts)
    assert contacts_of(manager, with_source) == wanted


def test_an_xlsx_workbook_imports_its_first_sheet_and_reads_formulas_as_their_saved_value(team):
    manager = team["manager"]
    report = import_csv(manager, workbook(XLSX_ROWS), content_type=XLSX_TYPE).json
    assert (report["format"], report["imported"], report["skipped"]) == ("xlsx", 3, 1), report
    assert report["mapping"]["Mobile Phone"] == "phones" and report["mapping"]["First Name"] == "first_name"
    assert [e["line"] for e in report["errors"]] == [6]  # the row's number in the sheet
    # The formula was never calculated (openpyxl wrote it): no saved value, so no company, and no "Evil".
    assert contacts_of(manager) == {ASHA[:3] + (("+912223456789", "+919876543210"),), (*HINDI[:1], None, None,
                                    HINDI[3]), CHINESE}


def test_a_formula_in_a_csv_cell_is_stored_as_its_text(team):
    data = b'name,company,email,source,phones\n"=HYPERLINK(""http://x"",""y"")",=1+1,,@SUM(A1),9876543210\n'
    assert import_csv(team["admin"], data).json["imported"] == 1
    assert team["admin"].get("/api/v1/contacts").json["items"][0]["name"] == '=HYPERLINK("http://x","y")'
    assert team["admin"].get("/api/v1/contacts").json["items"][0]["company"] == "=1+1"


def test_a_multipart_upload_is_read_like_a_body(team, tmp_path):
    manager = team["manager"]
    response = manager.post("/api/v1/contacts/import", data={
        "file": (io.BytesIO(fixture("vcard_3_0.vcf")), "contacts.vcf", "text/vcard")},
        content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert (response.json["format"], response.json["imported"]) == ("vcard", 2)
    response = manager.post("/api/v1/contacts/import", query_string={"dry_run": "true"}, data={
        "file": (io.BytesIO(workbook(XLSX_ROWS)), "contacts.xlsx", XLSX_TYPE)}, content_type="multipart/form-data")
    assert (response.json["format"], response.json["imported"], response.json["merged"]) == ("xlsx", 2, 1)
    response = manager.post("/api/v1/contacts/import", data={"other": (io.BytesIO(b"x"), "x.csv")},
                            content_type="multipart/form-data")
    assert response.status_code == 422 and "file" in response.json["error"]["message"]


# --- dry run and mapping -------------------------------------------------------

def test_a_dry_run_answers_format_mapping_and_counts_and_stores_nothing(team):
    manager = team["manager"]
    import_csv(manager, fixture("outlook.csv"))  # Asha and Vikram are contacts already
    before = contacts_of(manager)
    response = import_csv(manager, fixture("google_contacts.csv"), dry_run="true")
    assert response.status_code == 200, response.json
    report = response.json
    assert report["dry_run"] is True and report["format"] == "google_csv"
    assert report["mapping"]["Phone 1 - Value"] == "phones" and report["mapping"]["Organization Name"] == "company"
    # Asha (the same name holding one of the numbers) would be merged; a contact without a number is skipped.
    assert (report["imported"], report["merged"], report["skipped"]) == (2, 1, 1)
    assert report["errors"] == [{"line": 5, "message": "phones: at least one phone number is required."}]
    assert contacts_of(manager) == before


def test_a_dry_run_counts_duplicates_within_the_file_across_blocks(team, monkeypatch):
    from mobile_sync import contact_csv_file

    monkeypatch.setattr(contact_csv_file, "CHUNK", 2)
    cards = "".join(f"BEGIN:VCARD\nVERSION:3.0\nFN:P{i % 3}\nTEL:98765000{i % 3:02d}\nEND:VCARD\n" for i in range(7))
    report = import_csv(team["admin"], cards.encode(), dry_run="true").json
    assert (report["imported"], report["merged"]) == (3, 4)


def test_a_mapping_sent_back_overrides_the_detected_one(team):
    admin = team["admin"]
    data = "Kontakt;Handy;Firma;Notiz\nAsha Rao;+91 98765 43210;Rao Traders;x\n".encode()
    refused = import_csv(admin, data)
    assert refused.status_code == 422 and "mapping" in refused.json["error"]["message"]
    mapping = {"Kontakt": "name", "Handy": "phones", "Firma": "company", "Notiz": None}
    report = import_csv(admin, data, dry_run="true", mapping=json.dumps(mapping)).json
    assert (report["format"], report["mapping"], report["imported"]) == ("csv", mapping, 1)
    assert contacts_of(admin) == set()
    assert import_csv(admin, data, mapping=json.dumps(mapping)).json["imported"] == 1
    assert contacts_of(admin) == {("Asha Rao", "Rao Traders", None, ("+919876543210",))}
    # A detected layout may be overridden too: HubSpot's company left out, its source as the company.
    report = import_csv(admin, fixture("hubspot.csv"), dry_run="true", mapping=json.dumps(
        {"First Name": "first_name", "Last Name": "last_name", "Mobile Phone Number": "phones",
         "Lifecycle Stage": "company"})).json
    assert (report["format"], report["imported"], report["merged"]) == ("hubspot_csv", 1, 1)  # Asha is in


def test_a_vcard_mapping_names_properties(team):
    admin = team["admin"]
    report = import_csv(admin, fixture("vcard_3_0.vcf"),
                        mapping=json.dumps({"FN": "name", "TEL": "phones", "TITLE": "company"})).json
    assert report["imported"] == 2, report
    assert ("Asha Rao (Rao Traders, Pune)", "Owner", None, ASHA[3]) in contacts_of(admin)
    response = import_csv(admin, fixture("vcard_3_0.vcf"), mapping=json.dumps({"Full name": "name", "TEL": "phones"}))
    assert response.status_code == 422 and "FULL NAME" in response.json["error"]["message"]


@pytest.mark.parametrize("mapping, where, message", [
    ('{"Full Name": "nickname", "Mobile": "phones"}', "fields", "Unknown fields"),
    ("not json", "fields", "JSON object"),
    ('["name"]', "fields", "JSON object"),
    ('{"Full Name": "name", "Cell": "phones"}', "message", "'Cell'"),
    ('{"Full Name": "name"}', "message", "phones"),
])
def test_a_bad_mapping_is_422_with_a_clear_message(team, mapping, where, message):
    response = import_csv(team["admin"], fixture("any_columns.csv"), mapping=mapping)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert message in (json.dumps(error["fields"], ensure_ascii=False) if where == "fields" else error["message"])
    assert contacts_of(team["admin"]) == set()


# --- merging -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vcard_2_1.vcf", "google_contacts.csv", "outlook.csv"])
def test_importing_the_same_file_again_merges_rather_than_duplicates(team, name):
    admin = team["admin"]
    first = import_csv(admin, fixture(name)).json
    listed = contacts_of(admin)
    again = import_csv(admin, fixture(name)).json
    assert (again["imported"], again["merged"], again["skipped"]) == (0, first["imported"], first["skipped"])
    assert contacts_of(admin) == listed


def test_the_same_person_from_another_format_is_merged_by_a_number_in_any_position(team):
    admin = team["admin"]
    import_csv(admin, fixture("outlook.csv"))  # Asha's numbers: business, home, mobile
    report = import_csv(admin, fixture("pipedrive.csv")).json  # work numbers first, then mobile
    assert (report["imported"], report["merged"]) == (1, 1)  # "Iyer, Vikram" is another name: a new contact


# --- bad files -----------------------------------------------------------------

def _refused(actor, data: bytes, status: int = 422, **kwargs) -> dict:
    response = import_csv(actor, data, **kwargs)
    assert response.status_code == status, (response.status_code, response.json)
    assert contacts_of(actor) == set()
    return response.json["error"]


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_binary_garbage_is_refused(team):
    garbage = random.Random(18).randbytes(300_000)
    assert "not a contacts file" in _refused(team["admin"], garbage, content_type="application/octet-stream")["message"]
    assert ".xls" in _refused(team["admin"], b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))["message"]
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
    assert "not a contacts file" in _refused(team["admin"], png)["message"]


def test_a_file_over_the_configured_limit_is_413(team, clean_app):
    clean_app.config["CSV_IMPORT_MAX_BYTES"] = 4096
    error = _refused(team["admin"], fixture("vcard_2_1.vcf") * 10, status=413)
    assert error["code"] == "payload_too_large"
    response = team["admin"].post("/api/v1/contacts/import", data={
        "file": (io.BytesIO(workbook(XLSX_ROWS) * 2), "big.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 413 and contacts_of(team["admin"]) == set()


def test_a_zip_bomb_renamed_xlsx_is_refused_before_it_is_inflated(team, monkeypatch):
    from mobile_sync.contact_files import xlsx

    real = workbook(XLSX_ROWS)
    with zipfile.ZipFile(io.BytesIO(real)) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    bomb = _zip({**parts, "xl/sharedStrings.xml": b" " * (40 << 20)})  # 40 MB of spaces: ~40 KB compressed
    assert len(bomb) < 200_000
    assert "zip bomb" in _refused(team["admin"], bomb, content_type=XLSX_TYPE)["message"]
    monkeypatch.setattr(xlsx, "UNPACKED_MAX", 10_000)  # parts that compress as plain XML does, but too many
    assert "would inflate" in _refused(team["admin"], real, content_type=XLSX_TYPE)["message"]


def test_a_zip_that_is_not_a_workbook_or_is_damaged_is_refused(team):
    assert "not an .xlsx" in _refused(team["admin"], _zip({"a.csv": b"name,phones\n"}))["message"]
    damaged = bytearray(workbook(XLSX_ROWS))
    damaged[len(damaged) // 3: len(damaged) // 3 + 400] = bytes(400)
    assert "zip" in _refused(team["admin"], bytes(damaged))["message"]


def test_a_zip_whose_parts_lie_about_their_size_is_refused(team):
    real = workbook(XLSX_ROWS)
    # The central directory says the sheet inflates to 10 bytes: zipfile stops there, and its checksum fails.
    lying = bytearray(real)
    name = real.find(b"xl/worksheets/sheet1.xml", real.find(b"PK\x01\x02"))
    header = name - 46  # a central directory entry: its uncompressed size at 24
    assert lying[header:header + 4] == b"PK\x01\x02"
    lying[header + 24:header + 28] = (10).to_bytes(4, "little")
    assert "damaged" in _refused(team["admin"], bytes(lying))["message"]


def test_ten_thousand_columns_are_refused(team):
    header = ",".join(f"c{i}" for i in range(10_000)).encode()
    # 90,000 characters: past a line's length, so the header cannot be read at all.
    assert "header" in _refused(team["admin"], b"name,phones," + header + b"\nA,9876543210\n")["message"]
    short = ",".join(f"c{i}" for i in range(2_000)).encode()  # within a line's length: counted
    assert "2,002 columns" in _refused(team["admin"], b"name,phones," + short + b"\nA,9876543210\n")["message"]
    wide = workbook([["Name", "Phone"] + [f"c{i}" for i in range(10_000)], ["A", "9876543210"]])
    assert "10,002 columns" in _refused(team["admin"], wide, content_type=XLSX_TYPE)["message"]


def test_a_card_that_never_ends_is_held_in_bounded_memory_and_fails_alone(team):
    card = "BEGIN:VCARD\nVERSION:3.0\nFN:Endless\n" + "TEL:9876543210\n" * 50_000 + "PHOTO:" + "A" * 100 + "\n" \
        + " " + "B" * 70 + "\n"
    data = (card + "END:VCARD\nBEGIN:VCARD\nFN:Kept\nTEL:9123456789\nEND:VCARD\nBEGIN:VCARD\nFN:Cut\n").encode()
    report = import_csv(team["admin"], data).json
    assert (report["imported"], report["skipped"]) == (1, 2), report
    assert report["errors"][0] == {"line": 1, "message": "phones: at most 20 numbers per contact."}
    assert report["errors"][1]["message"] == "The card has no END:VCARD."


def test_json_is_not_a_file(team):
    assert _refused(team["admin"], b'{"name": "A"}', status=415, content_type="application/json")["code"] == \
        "unsupported_media_type"


# --- the command line and the document ---------------------------------------

def test_the_flask_command_detects_the_format_and_reports(team, clean_app, tmp_path):
    org = str(team["admin"].organization_id)
    runner = clean_app.test_cli_runner()
    path = tmp_path / "phone.vcf"
    path.write_bytes(fixture("vcard_2_1.vcf"))
    result = runner.invoke(args=["import-contacts", str(path), "--organization", org, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "format vcard" in result.output and "dry run: would import 2, duplicates 0, failed 1" in result.output
    assert contacts_of(team["admin"]) == set()
    book = tmp_path / "book.xlsx"
    book.write_bytes(workbook(XLSX_ROWS))
    result = runner.invoke(args=["import-contacts", str(book), "--organization", org])
    assert result.exit_code == 0, result.output
    assert "format xlsx" in result.output and "imported 3, duplicates 0, failed 1" in result.output
    assert "importing" in result.output  # the progress bar, by bytes read
    assert "line 6:" in result.output
    result = runner.invoke(args=["import-contacts", str(book), "--organization", org, "--mapping", '{"X": "name"}'])
    assert result.exit_code != 0 and "'X'" in result.output


def test_the_openapi_document_describes_the_import(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/contacts/import"]["post"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"dry_run", "mapping", "owner_id"} <= set(parameters)
    assert parameters["dry_run"]["schema"]["type"] == "boolean"
    answer = spec["components"]["schemas"]["ContactImportResult"]["properties"]
    assert {"format", "mapping", "imported", "merged", "skipped", "errors"} <= set(answer)
