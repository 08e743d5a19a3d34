"""`format=csv` on GET /leads, /contacts and /calls: every row the list's
filters find (not a page), streamed, formula-safe, a rep's own only,
never another organisation's, written to the access audit, capped."""
from __future__ import annotations

import csv
import io

import pytest

from tests.api.exports import upload_calls
from tests.phone_data import call_row


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv"
    assert response.is_streamed  # a generator, not a body built whole
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def dicts_of(response) -> list[dict]:
    rows = rows_of(response)
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def add_lead(actor, name, phone, **extra):
    response = actor.post("/api/v1/leads", json={"name": name, "phone": phone, **extra})
    assert response.status_code == 201, response.json
    return response.json["id"]


def add_contact(actor, name, *phones, **extra):
    response = actor.post("/api/v1/contacts", json={"name": name, "phones": list(phones), **extra})
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    manager = make_user(admin, role="manager", name="Meera Manager")
    ravi = make_device(make_user(admin, role="rep", name="Ravi Rep"))
    sita = make_device(make_user(admin, role="rep", name="Sita Rep"))
    return admin, manager, ravi, sita


def test_leads_download_every_matching_row_with_the_lists_filters_and_search(team):
    admin, manager, ravi, sita = team
    for i in range(7):
        add_lead(ravi, f"Kiran {i}", f"+91 98765 4321{i}", source="expo")
    add_lead(sita, "Asha Rao", "+91 90000 11111", source="web")
    everything = dicts_of(manager.get("/api/v1/leads?format=csv&limit=2"))  # limit and page do not cut it
    assert len(everything) == 8
    assert {"id", "name", "phone", "status", "owner_id", "created_at", "calls_count"} <= set(everything[0])
    found = dicts_of(manager.get("/api/v1/leads?format=csv&q=kiran&sort=name"))
    assert [row["name"] for row in found] == [f"Kiran {i}" for i in range(7)]
    assert [row["name"] for row in dicts_of(manager.get("/api/v1/leads?format=csv&source=web"))] == ["Asha Rao"]
    by_number = dicts_of(manager.get("/api/v1/leads?format=csv&q=9000011111"))
    assert [(row["name"], row["phone"]) for row in by_number] == [("Asha Rao", "+919000011111")]
    # The JSON list is unchanged: a page.
    page = manager.get("/api/v1/leads?limit=2").json
    assert len(page["items"]) == 2 and page["next_page"] == 2


def test_a_formula_in_a_cell_comes_out_as_text(team):
    admin, manager, ravi, sita = team
    add_lead(ravi, '=HYPERLINK("x")', "+91 98765 43210", company="+cmd|' /C calc'!A0")
    add_contact(manager, "@SUM(A1)", "+91 90000 22222", company="-2+3")
    add_contact(manager, "Plain -5", "+91 90000 33333", email="a@example.test")
    lead = dicts_of(manager.get("/api/v1/leads?format=csv"))[0]
    assert lead["name"] == "'=HYPERLINK(\"x\")" and lead["company"].startswith("'+cmd")
    assert lead["phone"] == "+919876543210"  # a number stays a number
    contacts = {row["name"]: row for row in dicts_of(manager.get("/api/v1/contacts?format=csv"))}
    assert contacts["'@SUM(A1)"]["company"] == "'-2+3"
    assert contacts["Plain -5"]["phones"] == "+919000033333"


def test_a_rep_downloads_only_their_own_rows(team, clean_app):
    admin, manager, ravi, sita = team
    add_lead(ravi, "Ravi's lead", "+91 98765 40001")
    add_lead(sita, "Sita's lead", "+91 98765 40002")
    add_contact(ravi, "Ravi's contact", "+91 98765 40003")
    add_contact(sita, "Sita's contact", "+91 98765 40004")
    upload_calls(ravi, call_row(1, "+91 98765 40001"), batch="r")
    upload_calls(sita, call_row(2, "+91 98765 40002"), batch="s")
    assert [r["name"] for r in dicts_of(ravi.get("/api/v1/leads?format=csv"))] == ["Ravi's lead"]
    assert [r["name"] for r in dicts_of(ravi.get("/api/v1/contacts?format=csv"))] == ["Ravi's contact"]
    assert [r["number"] for r in dicts_of(ravi.get("/api/v1/calls?format=csv"))] == ["+919876540001"]
    assert len(dicts_of(manager.get("/api/v1/calls?format=csv"))) == 2
    calls = dicts_of(manager.get(f"/api/v1/calls?format=csv&user_id={sita.user_id}"))
    assert [(c["number"], c["type"]) for c in calls] == [("+919876540002", "incoming")]


def test_another_organisations_rows_never_appear(team, make_org):
    admin = team[0]
    other = make_org(region="IN")
    add_lead(other, "Outsider lead", "+91 98765 49999")
    add_contact(other, "Outsider contact", "+91 98765 49998")
    add_lead(admin, "Ours", "+91 98765 40000")
    for path in ("/api/v1/leads", "/api/v1/contacts", "/api/v1/calls"):
        text = admin.get(f"{path}?format=csv&q=Outsider").get_data(as_text=True)
        assert "Outsider" not in text and "49999" not in text
    assert [r["name"] for r in dicts_of(admin.get("/api/v1/leads?format=csv"))] == ["Ours"]


def test_each_download_is_an_export_in_the_access_audit_with_its_row_count(team):
    admin, manager, ravi, sita = team
    for i in range(3):
        add_contact(manager, f"Customer {i}", f"+91 98765 4100{i}")
    rows_of(manager.get("/api/v1/contacts?format=csv"))
    rows_of(manager.get("/api/v1/leads?format=csv"))
    events = admin.get("/api/v1/audit").json["items"]
    exports = [(e["action"], e["count"], e["actor_user_id"]) for e in events if e["action"].endswith(".export")]
    assert ("contact.export", 3, manager.user_id) in exports and ("lead.export", 0, manager.user_id) in exports
    assert not any(e["action"] == "contact.list" and e["count"] is None for e in events)


def test_a_download_stops_at_the_cap_and_says_so(team, clean_app, monkeypatch):
    admin = team[0]
    for i in range(5):
        add_contact(admin, f"Customer {i}", f"+91 98765 4200{i}")
    monkeypatch.setitem(clean_app.config, "LIST_EXPORT_CAP", 3)
    response = admin.get("/api/v1/contacts?format=csv")
    assert response.headers["X-Row-Cap"] == "3"
    rows = rows_of(response)
    assert len(rows) == 1 + 3 + 1 and rows[-1][0].startswith("# Stopped at 3 rows")
    events = admin.get("/api/v1/audit").json["items"]
    assert [e["count"] for e in events if e["action"] == "contact.export"] == [3]
    monkeypatch.setitem(clean_app.config, "LIST_EXPORT_CAP", 5)
    assert not rows_of(admin.get("/api/v1/contacts?format=csv"))[-1][0].startswith("#")


def test_bad_filters_are_a_422_before_anything_is_sent(team):
    manager = team[1]
    assert manager.get("/api/v1/leads?format=xml").status_code == 422
    response = manager.get("/api/v1/calls?format=csv&from=2026-11-20&to=2026-11-01")
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_fields"
    assert manager.get("/api/v1/contacts?format=csv&nope=1").status_code == 422


def test_the_openapi_document_describes_the_csv_answers(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/leads", "/api/v1/contacts", "/api/v1/calls"):
        ok = paths[path]["get"]["responses"]["200"]
        assert {"application/json", "text/csv"} <= set(ok["content"]), path
        assert "X-Row-Cap" in ok["headers"]
        names = {p.get("name") for p in paths[path]["get"]["parameters"]}
        assert "format" in names, names
