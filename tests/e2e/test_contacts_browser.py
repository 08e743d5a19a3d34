"""The contacts pages in a real headless Chromium: an admin creates a contact
by keyboard, finds it with the search box, edits it, previews its erasure
and confirms it, and imports a Google Contacts file and a vCard through the
import page. Screenshots at 1280 and 390 px go to test-artifacts/."""
from __future__ import annotations

import os

import pytest

from tests.e2e import test_account_browser, test_review_browser
from tests.e2e.test_account_browser import every_input_is_labelled, shoot
from tests.e2e.test_console_browser import sign_in
from tests.web import conftest as web_conftest

pytestmark = pytest.mark.timeout(180)
browser, live_server = test_review_browser.browser, test_review_browser.live_server  # fixtures
context, page_team = test_account_browser.context, web_conftest.page_team  # fixtures
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "contact_files")


def test_an_admin_keeps_contacts_in_the_browser(context, clean_app, live_server, page_team):
    from playwright.sync_api import expect

    admin, manager, ravi, sita = page_team
    page = context()
    sign_in(page, admin.email, live_server)

    page.get_by_role("link", name="Contacts").click()
    expect(page.locator("h1")).to_have_text("Contacts")
    page.get_by_role("link", name="New contact").click()
    every_input_is_labelled(page)
    # By keyboard: the name has the focus; Tab moves through the form; Enter on the button saves.
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type("Asha Rao")
    page.keyboard.press("Tab")
    page.keyboard.type("Rao Traders")
    page.keyboard.press("Tab")
    page.keyboard.type("not-an-address")
    page.keyboard.press("Tab")
    page.keyboard.type("expo")
    page.keyboard.press("Tab")
    page.keyboard.type("98765 43210")
    page.keyboard.press("Enter")
    page.keyboard.type("+44 20 7946 0958")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Owner")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#e-email")).to_contain_text("Not a valid email address.")
    shoot(page, "contact-form-error")
    page.get_by_label("E-mail").fill("asha@example.com")
    page.get_by_label("E-mail").press("Enter")
    expect(page.locator("h1")).to_have_text("Asha Rao")
    expect(page.locator("dd.numbers a")).to_have_count(2)
    expect(page.locator('dd.numbers a[href="tel:+919876543210"]')).to_have_text("+91 98765 43210")
    page.get_by_label("Add a note").fill("Prefers mornings")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("article.note")).to_contain_text("Prefers mornings")
    shoot(page, "contact")

    page.get_by_role("link", name="Contacts").first.click()
    page.get_by_role("searchbox", name="Search").fill("9876543210")
    page.get_by_role("searchbox", name="Search").press("Enter")
    expect(page.locator("table.contacts tbody tr")).to_have_count(1)
    expect(page.locator("table.contacts")).to_contain_text("Rao Traders")
    assert "q=9876543210" in page.get_by_role("link", name="Download CSV").get_attribute("href")
    # Left alone, the order of a search is its best match (the form sends no sort).
    expect(page.get_by_label("Order").locator("option:checked")).to_have_text("best match")
    assert "sort=created" not in page.url
    shoot(page, "contacts-search")

    page.get_by_role("link", name="Asha Rao").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Company").fill("Rao Traders, Pune")
    page.get_by_label("Phone numbers").fill("98765 43210")
    page.get_by_role("button", name="Save contact").click()
    expect(page.locator(".flash.ok")).to_have_text("Contact saved.")
    expect(page.locator("dd.numbers a")).to_have_count(1)

    page.get_by_role("link", name="Erase this person…").click()
    expect(page.locator("h1")).to_have_text("Erase Asha Rao?")
    expect(page.locator('[data-count="contacts"]')).to_have_text("1")
    expect(page.locator('[data-count="notes"]')).to_have_text("1")
    expect(page.locator("ul.numbers")).to_contain_text("+91 98765 43210")
    shoot(page, "erase-preview")
    page.get_by_role("button", name="Erase for good").click()
    expect(page.locator("h1")).to_have_text("Erased")
    expect(page.locator('#erase-done [data-count="contacts"]')).to_have_text("1")
    shoot(page, "erase-done")
    assert admin.get("/api/v1/contacts").json["items"] == []


def test_a_manager_imports_files_through_the_page(context, clean_app, live_server, page_team):
    from playwright.sync_api import expect

    admin, manager = page_team[:2]
    page = context()
    sign_in(page, manager.email, live_server)
    page.goto("/contacts/import")
    every_input_is_labelled(page)
    shoot(page, "import-upload")
    page.get_by_label("File").set_input_files(os.path.join(FIXTURES, "google_contacts.csv"))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("h1")).to_have_text("Dry run of google_contacts.csv")
    expect(page.locator("dd.format")).to_have_text("google csv")
    expect(page.locator("dd.imported")).to_have_text("3")
    expect(page.locator("table.import-errors")).to_contain_text("5")
    expect(page.get_by_label("Phone 1 - Value")).to_have_value("phones")
    shoot(page, "import-dry-run")
    page.get_by_role("button", name="Import 3 contacts").click()
    expect(page.locator("h1")).to_have_text("Imported google_contacts.csv")
    expect(page.locator("dd.imported")).to_have_text("3")
    shoot(page, "import-result")

    page.get_by_role("link", name="Import another file").click()
    page.get_by_label("File").set_input_files(os.path.join(FIXTURES, "vcard_4_0.vcf"))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("dd.format")).to_have_text("vcard")
    page.get_by_role("button", name="Import 2 contacts").click()
    expect(page.locator("dd.imported")).to_have_text("2")
    page.get_by_role("link", name="See the contacts").click()
    expect(page.locator("table.contacts tbody tr")).to_have_count(5)
    shoot(page, "contacts")


def test_an_import_shows_its_progress_while_a_worker_runs_it(context, clean_app, live_server, page_team,
                                                             monkeypatch):
    """As with Redis: the job runs in a worker (a thread here), not in the
    request; the import's page shows the bar and the counts as blocks are
    stored, refreshes itself without script, and ends on the counts."""
    import threading

    from playwright.sync_api import expect

    from mobile_sync import contact_csv_file, contact_imports
    from server import jobs
    from server.clock import now
    from server.extensions import db
    from server.web import import_pages

    admin, manager = page_team[:2]
    monkeypatch.setattr(contact_csv_file, "CHUNK", 10)  # blocks of 10 lines
    monkeypatch.setattr(contact_csv_file, "PIECE", 512)  # the file read 512 bytes at a time
    monkeypatch.setattr(import_pages, "REFRESH_S", 1)
    gate, progressed = threading.Event(), []
    real_progress = contact_imports.runs.record_progress

    def progress_noted(*args, **kwargs):
        progressed.append(kwargs["imported"])
        return real_progress(*args, **kwargs)

    def worker(func, organization_id, run_id, **_options):
        """A worker's run of the job; after the first block's progress is committed (no
        transaction open: SQLite's would hold the pages up) it waits until the page has been seen."""
        assert func is jobs.import_contact_file

        def commit():
            db.session.commit()
            if len(progressed) == 1 and not gate.is_set():
                gate.wait(30)

        def work():
            with clean_app.app_context():
                contact_imports.run_import(db.session, organization_id, run_id, hash_key=clean_app.config["HASH_KEY"],
                                           clock=now, commit=commit)
        threading.Thread(target=work, daemon=True).start()
        return True

    monkeypatch.setattr(contact_imports.runs, "record_progress", progress_noted)
    monkeypatch.setattr(import_pages, "enqueue", worker)
    path = os.path.join(str(clean_app.config["DATA_DIR"]), "many.csv")
    with open(path, "w") as out:
        out.write("name,company,email,source,phones\n")
        out.writelines(f"Person {i},Rao Traders,,expo,98{i:08d}\n" for i in range(60))
        out.write("Bad Phone,,,,12345\n")

    page = context()
    sign_in(page, manager.email, live_server)
    page.goto("/contacts/import")
    page.get_by_label("File").set_input_files(path)
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("dd.imported")).to_have_text("60")
    page.get_by_role("button", name="Import 60 contacts").click()
    expect(page.locator("h1")).to_have_text("Importing many.csv")
    expect(page.locator("dd.imported")).to_have_text("10", timeout=15000)  # the first block, on a refresh
    expect(page.get_by_role("status")).to_contain_text("Reading the file")
    value = float(page.locator("progress#import-progress").get_attribute("value"))
    assert 0 < value < float(page.locator("progress#import-progress").get_attribute("max"))
    monkeypatch.setattr(import_pages, "REFRESH_S", 30)  # hold still for the screenshots
    page.reload()
    shoot(page, "import-progress")
    gate.set()
    page.reload()  # the next refresh comes in 30 s: look now, and again until the worker is done
    for _ in range(30):
        if page.locator("dd.state").inner_text() == "done":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator("h1")).to_have_text("Imported many.csv")
    expect(page.locator("dd.imported")).to_have_text("60")
    expect(page.locator("dd.errors")).to_have_text("1")
    expect(page.locator("table.import-errors")).to_contain_text("62")
    expect(page.locator("table.recent-imports")).to_contain_text("many.csv")
    shoot(page, "import-done")
    assert len(admin.get("/api/v1/contacts", query_string={"limit": 100}).json["items"]) == 60
