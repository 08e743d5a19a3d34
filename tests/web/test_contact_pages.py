"""The contacts pages through Flask's test client: the list (search, order,
pages, CSV), create, edit and delete (bad input beside the field, 422),
a contact's page, roles (a rep 403, another organisation's contact 404),
CSRF and the import page (dry run, mapping, import). Erasure from a record's
page is in test_erasure_pages.py."""
from __future__ import annotations

import csv
import html
import io
import os
import re

import pytest

from tests.api.exports import upload_calls
from tests.phone_data import call_row
from tests.web.conftest import csrf_of
from tests.web.test_account_pages import page_text
from tests.web.test_console_pages import signed_in

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "contact_files")


def fixture(name: str) -> bytes:
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def post(browser, path, **data):
    return browser.post(path, data={"csrf_token": csrf_of(browser, "/contacts"), **data})


def add_contact(actor, name, *phones, **extra) -> int:
    response = actor.post("/api/v1/contacts", json={"name": name, "phones": list(phones), **extra})
    assert response.status_code == 201, response.json
    return response.json["id"]


def contact_json(actor, contact_id):
    return actor.get(f"/api/v1/contacts/{contact_id}")


# --- the list -----------------------------------------------------------------

def test_the_list_shows_names_companies_numbers_owners_and_searches_and_orders(clean_app, page_team):
    admin, manager, ravi, sita = page_team
    add_contact(manager, "Asha Rao", "+91 98765 43210", "022 2345 6789", company="Rao Traders")
    add_contact(ravi, "Bala Iyer", "+91 90000 11111")
    upload_calls(ravi, call_row(1, "+91 90000 11111"), batch="c")
    browser = signed_in(clean_app, manager)
    page = page_text(browser.get("/contacts"))
    assert '<a href="/contacts">Contacts</a>' in page  # the nav
    assert "Asha Rao" in page and "Rao Traders" in page and "Bala Iyer" in page
    assert '<a href="tel:+919876543210">+91 98765 43210</a>' in page and 'href="tel:+912223456789"' in page
    assert "Meera Manager" in page and "Ravi Rep" in page
    assert "Last call (Asia/Kolkata)" in page and "IST" in page and "never" in page
    found = page_text(browser.get("/contacts?q=rao"))
    assert "Asha Rao" in found and "Bala Iyer" not in found
    assert "Bala Iyer" in page_text(browser.get("/contacts?q=90000%2011111"))  # a national number
    by_name = page_text(browser.get("/contacts?sort=name"))
    assert by_name.index("Asha Rao") < by_name.index("Bala Iyer")
    newest = page_text(browser.get("/contacts"))
    assert newest.index("Bala Iyer") < newest.index("Asha Rao")
    assert 'href="/contacts/export.csv?q=rao"' in found
    bad = browser.get("/contacts?sort=loudest")
    assert bad.status_code == 422 and "Please check the search" in page_text(bad)


def test_a_search_left_at_the_first_order_lists_the_best_match_first(clean_app, page_team):
    manager = page_team[1]
    add_contact(manager, "Rajesh Rao", "+91 90000 22222")
    add_contact(manager, "Ravi Kumar", "+91 90000 33333")  # newer, and later in the alphabet
    browser = signed_in(clean_app, manager)
    unsearched = browser.get("/contacts").get_data(as_text=True)
    assert "best match" not in unsearched
    assert re.search(r'<option value="" selected>newest first</option>', unsearched)
    # What the form sends when the order is left alone: sort is empty.
    searched = browser.get("/contacts?q=ra&sort=").get_data(as_text=True)
    assert re.search(r'<option value="" selected>best match</option>', searched)
    text = page_text(browser.get("/contacts?q=ra&sort="))
    assert text.index("Rajesh Rao") < text.index("Ravi Kumar")
    newest = browser.get("/contacts?q=ra&sort=created").get_data(as_text=True)
    assert re.search(r'<option value="created" selected>newest first</option>', newest)
    assert page_text(browser.get("/contacts?q=ra&sort=created")).index("Ravi Kumar") < \
        page_text(browser.get("/contacts?q=ra&sort=created")).index("Rajesh Rao")


def test_the_list_pages_by_fifty(clean_app, page_team):
    admin, manager = page_team[:2]
    for i in range(51):
        add_contact(admin, f"Customer {i:02d}", f"+91 98765 4{i:04d}")
    browser = signed_in(clean_app, manager)
    first = page_text(browser.get("/contacts?sort=name"))
    assert "Customer 00" in first and "Customer 49" in first and "Customer 50" not in first
    assert 'href="/contacts?page=2&amp;sort=name"' in first
    second = page_text(browser.get("/contacts?sort=name&page=2"))
    assert "Customer 50" in second and "Customer 49" not in second and "← Previous" in second


def test_the_csv_link_downloads_what_the_search_finds(clean_app, page_team):
    admin, manager = page_team[:2]
    add_contact(admin, "Asha Rao", "+91 98765 43210")
    add_contact(admin, '=HYPERLINK("x")', "+91 90000 11111")
    response = signed_in(clean_app, manager).get("/contacts/export.csv?q=asha")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["name"], r["phones"]) for r in rows] == [("Asha Rao", "+919876543210")]
    everything = signed_in(clean_app, manager).get("/contacts/export.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in everything
    events = admin.get("/api/v1/audit").json["items"]
    assert sorted(e["count"] for e in events if e["action"] == "contact.export") == [1, 2]


def test_the_calls_page_and_its_csv(clean_app, page_team):
    admin, manager, ravi, sita = page_team
    add_contact(admin, "Asha Rao", "+91 98765 43210")
    upload_calls(ravi, call_row(1, "+91 98765 43210", duration=125), batch="r")
    upload_calls(sita, call_row(2, "+91 90000 11111", type_=3, duration=0), batch="s")
    browser = signed_in(clean_app, manager)
    page = page_text(browser.get("/calls"))
    assert "Time (Asia/Kolkata)" in page and "2:05" in page and "missed" in page and "Ravi Rep" in page
    only = page_text(browser.get(f"/calls?user_id={sita.user_id}"))
    assert "Sita Rep" in only and "2:05" not in only
    assert f'href="/calls/export.csv?user_id={sita.user_id}"' in only
    rows = list(csv.DictReader(io.StringIO(browser.get("/calls/export.csv?q=asha").get_data(as_text=True))))
    assert [(r["number"], r["duration_s"]) for r in rows] == [("+919876543210", "125")]
    reversed_range = browser.get("/calls?from=2026-11-20&to=2026-11-01")
    assert reversed_range.status_code == 422 and "before" in page_text(reversed_range)


# --- create, edit, delete -----------------------------------------------------

def test_a_manager_creates_a_contact_with_numbers_on_lines_or_with_commas(clean_app, page_team):
    admin, manager, ravi, sita = page_team
    browser = signed_in(clean_app, manager)
    form = page_text(browser.get("/contacts/new"))
    assert '<label for="f-phones">' in form and "One a line, or separated by commas" in form
    done = post(browser, "/contacts/new", name="Asha Rao", company="Rao Traders", email="asha@example.com",
                source="expo", owner_id=str(ravi.user_id), phones="98765 43210\n022 2345 6789, +44 20 7946 0958")
    assert done.status_code == 302
    contact_id = int(done.headers["Location"].rsplit("/", 1)[1])
    body = contact_json(admin, contact_id).json
    assert body["phones"] == ["+919876543210", "+912223456789", "+442079460958"]
    assert (body["company"], body["owner_id"], body["source"]) == ("Rao Traders", ravi.user_id, "expo")
    # Caller ID names it: the same domain function as the API.
    match = admin.get("/api/v1/caller-id?number=9876543210").json["match"]
    assert (match["record_type"], match["name"]) == ("contact", "Asha Rao")


def test_bad_input_is_said_beside_the_field_with_422(clean_app, page_team):
    admin, manager = page_team[:2]
    browser = signed_in(clean_app, manager)
    response = post(browser, "/contacts/new", name="", email="not-an-address", phones="12, 98765 43210")
    assert response.status_code == 422
    page = page_text(response)
    assert 'id="e-name"' in page and 'id="e-email"' in page and "Not a valid email address." in page
    assert 'value="not-an-address"' in page  # what was typed stays
    response = post(browser, "/contacts/new", name="Asha", phones="12, 98765 43210")
    assert response.status_code == 422
    assert re.search(r'id="e-phones">12: Not a usable phone number', page_text(response))
    response = post(browser, "/contacts/new", name="Asha", phones="")
    assert response.status_code == 422 and 'id="e-phones"' in page_text(response)
    response = post(browser, "/contacts/new", name="Asha", phones="98765 43210", owner_id="999999")
    assert response.status_code == 422 and "No such user in your organisation." in page_text(response)
    assert admin.get("/api/v1/contacts").json["items"] == []


def test_an_erased_number_gives_the_domains_message(clean_app, page_team):
    admin, manager = page_team[:2]
    assert admin.post("/api/v1/erasure", json={"phone": "+91 98765 43210"}).status_code == 200
    response = post(signed_in(clean_app, manager), "/contacts/new", name="Asha", phones="98765 43210")
    assert response.status_code == 409
    page = html.unescape(page_text(response))
    assert "A number was erased at the person's request." in page and "Erased at the person's request." in page


def test_a_manager_edits_a_contact_and_its_numbers_replace_the_old_ones(clean_app, page_team):
    admin, manager = page_team[:2]
    contact_id = add_contact(admin, "Asha Rao", "+91 98765 43210")
    browser = signed_in(clean_app, manager)
    form = page_text(browser.get(f"/contacts/{contact_id}/edit"))
    assert 'value="Asha Rao"' in form and "+919876543210" in form
    done = post(browser, f"/contacts/{contact_id}/edit", name="Asha R. Rao", company="", email="",
                source="", owner_id="", phones="+91 90000 11111")
    assert done.status_code == 302
    body = contact_json(admin, contact_id).json
    assert (body["name"], body["phones"], body["owner_id"]) == ("Asha R. Rao", ["+919000011111"], None)
    bad = post(browser, f"/contacts/{contact_id}/edit", name="   ", phones="")
    assert bad.status_code == 422 and 'id="e-phones"' in page_text(bad) and 'id="e-name"' in page_text(bad)
    assert contact_json(admin, contact_id).json["name"] == "Asha R. Rao"


def test_delete_asks_on_a_page_then_deletes(clean_app, page_team):
    admin, manager = page_team[:2]
    contact_id = add_contact(admin, "Asha Rao", "+91 98765 43210")
    browser = signed_in(clean_app, manager)
    ask = page_text(browser.get(f"/contacts/{contact_id}/delete"))
    assert "Delete Asha Rao?" in ask and "<script" not in ask
    assert contact_json(admin, contact_id).status_code == 200
    done = post(browser, f"/contacts/{contact_id}/delete")
    assert (done.status_code, done.headers["Location"]) == (302, "/contacts")
    assert contact_json(admin, contact_id).status_code == 404
    assert browser.get(f"/contacts/{contact_id}").status_code == 404


def test_the_contact_page_shows_numbers_calls_in_the_viewers_zone_and_notes(clean_app, page_team):
    admin, manager, ravi, sita = page_team
    contact_id = add_contact(admin, "Asha Rao", "+91 98765 43210", "+44 20 7946 0958")
    upload_calls(ravi, call_row(1, "+91 98765 43210", duration=75), call_row(2, "+91 98765 43210", type_=2,
                                                                              duration=0), batch="r")
    browser = signed_in(clean_app, manager)
    page = page_text(browser.get(f"/contacts/{contact_id}"))
    assert '<a class="phone" href="tel:+442079460958">+44 20 7946 0958</a>' in page
    assert "Time (Asia/Kolkata)" in page and "1:15" in page and "outgoing" in page and "incoming" in page
    assert "IST" in page
    assert "/records/contact/" not in page  # erasure is for admins
    assert post(browser, f"/contacts/{contact_id}/notes", text="Wants a quote").status_code == 302
    assert "Wants a quote" in page_text(browser.get(f"/contacts/{contact_id}"))
    assert f'href="/records/contact/{contact_id}/erase"' in page_text(signed_in(clean_app, admin).get(
        f"/contacts/{contact_id}"))


# --- who may --------------------------------------------------------------------

def test_a_rep_gets_the_403_page_and_another_organisations_contact_is_404(clean_app, page_team, make_org):
    from flask import g

    from mobile_sync.errors import ServiceError
    from mobile_sync.store.models import User
    from server.extensions import db
    from server.web import contact_pages

    admin, manager, ravi, sita = page_team
    with clean_app.test_request_context("/contacts"):
        g.web_user = db.session.get(User, ravi.user_id)
        for view, args in ((contact_pages.contacts_page, {}), (contact_pages.new_contact, {}),
                           (contact_pages.contact_page, {"contact_id": 1})):
            with pytest.raises(ServiceError) as refused:
                view(**args)
            assert refused.value.status == 403 and "reps work from the phone app" in refused.value.message
    other = make_org(region="IN")
    theirs = add_contact(other, "Outsider", "+91 98765 49999")
    browser = signed_in(clean_app, manager)
    for path in (f"/contacts/{theirs}", f"/contacts/{theirs}/edit", f"/contacts/{theirs}/delete"):
        response = browser.get(path)
        assert response.status_code == 404 and "Outsider" not in page_text(response)
    assert post(browser, f"/contacts/{theirs}/delete").status_code == 404
    assert post(browser, f"/contacts/{theirs}/notes", text="x").status_code == 404
    assert contact_json(other, theirs).status_code == 200
    assert "No contacts match" in page_text(browser.get("/contacts?q=Outsider"))


def test_every_form_needs_the_csrf_token(clean_app, page_team):
    admin, manager = page_team[:2]
    contact_id = add_contact(admin, "Asha Rao", "+91 98765 43210")
    browser = signed_in(clean_app, admin)
    for path, data in (("/contacts/new", {"name": "X", "phones": "98765 40000"}),
                       (f"/contacts/{contact_id}/edit", {"name": "X", "phones": "98765 40000"}),
                       (f"/contacts/{contact_id}/delete", {}), (f"/contacts/{contact_id}/notes", {"text": "x"}),
                       (f"/records/contact/{contact_id}/erase", {}), ("/contacts/import", {})):
        response = browser.post(path, data=data)
        assert response.status_code == 400 and "This form has expired" in page_text(response), path
    body = contact_json(admin, contact_id).json
    assert body["name"] == "Asha Rao"


# --- import ------------------------------------------------------------------------

def upload(browser, name: str, content: bytes):
    return browser.post("/contacts/import", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(browser, "/contacts/import"), "file": (io.BytesIO(content), name)})


def form_fields(page: str) -> tuple[str, dict]:
    action = re.search(r'action="(/contacts/import/[^"]+)"', page).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="((?:col|filename)[^"]*)" value="([^"]*)"', page))
    selected = dict(re.findall(r'<select id="map-\d+" name="(map-\d+)">.*?<option value="([^"]*)" selected', page,
                               flags=re.S))
    return action, {**fields, **selected}


def test_the_import_page_dry_runs_a_google_csv_then_imports_it(clean_app, page_team):
    admin, manager = page_team[:2]
    add_contact(admin, "Asha Rao", "+91 98765 43210")
    browser = signed_in(clean_app, manager)
    response = upload(browser, "google.csv", fixture("google_contacts.csv"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = page_text(response)
    assert "Dry run of google.csv" in text and "google csv" in text
    assert re.search(r'class="imported">2<', page) and re.search(r'class="merged">1<', page)
    assert re.search(r'class="skipped">1<', page) and "phones: at least one phone number is required." in text
    assert '<td data-label="Line" class="num">5</td>' in page
    assert "Phone 1 - Value" in text and "Organization Name" in text
    assert len(admin.get("/api/v1/contacts").json["items"]) == 1  # nothing stored by the dry run
    action, fields = form_fields(page)
    done = browser.post(action, data={"csrf_token": csrf_of(browser, "/contacts"), "action": "import", **fields},
                        follow_redirects=True)
    assert done.status_code == 200, page_text(done)[:500]
    result = done.get_data(as_text=True)
    assert re.search(r'class="imported">2<', result) and re.search(r'class="merged">1<', result)
    names = {c["name"] for c in admin.get("/api/v1/contacts").json["items"]}
    assert len(names) == 3 and "Asha Rao" in names
    # The kept upload is gone with the import.
    again = browser.post(action, data={"csrf_token": csrf_of(browser, "/contacts"), "action": "import", **fields})
    assert again.status_code == 404 and "no longer here" in page_text(again)


def test_the_mapping_can_be_changed_before_importing_a_vcard(clean_app, page_team):
    admin, manager = page_team[:2]
    browser = signed_in(clean_app, manager)
    page = upload(browser, "phone.vcf", fixture("vcard_3_0.vcf")).get_data(as_text=True)
    assert "vcard" in page and re.search(r'class="imported">2<', page) and re.search(r'class="skipped">1<', page)
    action, fields = form_fields(page)
    column_of = {value: key[4:] for key, value in fields.items() if key.startswith("col-")}
    assert "ORG" in column_of and fields[f"map-{column_of['ORG']}"] == "company"
    fields[f"map-{column_of['ORG']}"] = ""  # leave the company out
    checked = browser.post(action, data={"csrf_token": csrf_of(browser, "/contacts"), "action": "preview", **fields})
    assert checked.status_code == 200 and "— leave out —</option>" in checked.get_data(as_text=True)
    done = browser.post(action, data={"csrf_token": csrf_of(browser, "/contacts"), "action": "import", **fields},
                        follow_redirects=True)
    assert re.search(r'class="imported">2<', done.get_data(as_text=True))
    items = admin.get("/api/v1/contacts").json["items"]
    assert len(items) == 2 and all(c["company"] is None for c in items)


def test_a_file_that_cannot_be_imported_is_said_on_the_upload_page(clean_app, page_team):
    browser = signed_in(clean_app, page_team[1])
    response = upload(browser, "junk.bin", bytes(range(256)) * 40)
    assert 400 <= response.status_code < 500 and "Choose a file" not in page_text(response)
    assert 'type="file"' in page_text(response)
    nothing = browser.post("/contacts/import", content_type="multipart/form-data",
                           data={"csrf_token": csrf_of(browser, "/contacts/import")})
    assert nothing.status_code == 422 and "Choose a file" in page_text(nothing)
    assert browser.post("/contacts/import/not-a-token", data={
        "csrf_token": csrf_of(browser, "/contacts")}).status_code == 404


def test_the_page_takes_a_file_up_to_the_imports_own_limit_not_the_apps_body_limit(clean_app, page_team,
                                                                                   monkeypatch):
    admin, manager = page_team[:2]
    browser = signed_in(clean_app, manager)
    content = fixture("google_contacts.csv")
    monkeypatch.setitem(clean_app.config, "MAX_CONTENT_LENGTH", 200)  # smaller than the file
    assert upload(browser, "google.csv", content).status_code == 200
    monkeypatch.setitem(clean_app.config, "CSV_IMPORT_MAX_BYTES", 100)
    too_big = upload(browser, "google.csv", content + b"\n" * 70_000)
    assert too_big.status_code == 413
    assert admin.get("/api/v1/contacts").json["items"] == []
