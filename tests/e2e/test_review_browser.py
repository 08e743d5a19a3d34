"""The manager's review pages in a real headless Chromium (Debian's, driven by
Playwright) against the app served by a real HTTP server on loopback.

Leads are made the real way: a rep's phone uploads its call log through the
API. Afterwards the API, over HTTP with a bearer token, must agree with what
the pages show. Screenshots go to test-artifacts/ (git-ignored).
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row
from tests.servers import free_port, missing
from tests.web.conftest import upload_calls

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Chromium as the machine notes prescribe: headless, no sandbox as root, and no
# background traffic to Google's hosts, which this closed network refuses.
# Playwright gives every launch a fresh, empty profile directory of its own.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.timeout(180)


def _missing(what: str) -> None:
    missing(what, install="Debian's chromium; pip install -r requirements-dev.txt")


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing("chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield playwright, chromium
        finally:
            chromium.close()


@pytest.fixture
def live_server(clean_app):
    """The app on a free loopback port, served by werkzeug in a thread."""
    server = make_server("127.0.0.1", free_port(), clean_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def seeded(clean_app, make_org, make_user, make_device):
    """Five auto-created leads (four from Ravi's phone, one from Sita's) and a CRM contact."""
    admin = make_org(name="Rao Traders", region="IN")
    manager = make_user(admin, role="manager", name="Meera Manager")
    ravi = make_device(make_user(admin, name="Ravi Rep"))
    sita = make_device(make_user(admin, name="Sita Rep"))
    upload_calls(ravi, [
        call_row(1, "+91 98765 43210", name="Asha Rao", duration=125),
        call_row(2, "+91 98765 43210", type_=3, duration=0),
        call_row(3, "+91 91234 56789", name="Kiran Kumar"),
        call_row(4, "+91 90000 11111", name="Prize Offer"),
        call_row(5, "+91 90000 22222", type_=2, name="Dev Patel", duration=40),
    ])
    upload_calls(sita, [call_row(6, "+91 90000 33333", name="Nisha Shah")], batch="s1")
    contact_id = add_contact(clean_app, admin.organization_id, "Asha Rao (Rao Traders)", "+91 80 4000 1234")
    by_name = {item["name"]: item for item in manager.get("/api/v1/leads").json["items"]}
    assert len(by_name) == 5
    return {"admin": admin, "manager": manager, "ravi": ravi, "sita": sita, "contact_id": contact_id,
            "ids": {name: item["id"] for name, item in by_name.items()}}


def test_manager_reviews_the_queue_in_a_browser_and_the_api_agrees(browser, live_server, seeded):
    from playwright.sync_api import expect

    playwright, chromium = browser
    ids, manager = seeded["ids"], seeded["manager"]
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    page = context.new_page()
    page.set_default_timeout(15_000)

    # Sign in: the queue asks for it and comes back afterwards.
    page.goto("/review")
    expect(page).to_have_url(f"{live_server}/login?next=/review")
    page.fill("input[name=email]", manager.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{live_server}/review")
    expect(page.locator("header .who")).to_contain_text("Meera Manager")
    expect(page.locator("table.leads tbody tr")).to_have_count(5)

    # Filter: Ravi's pending leads only.
    page.select_option("form.filters select[name=owner_id]", label="Ravi Rep")
    page.click("form.filters button:has-text('Filter')")
    expect(page.locator("table.leads tbody tr")).to_have_count(4)
    expect(page.locator(f"#lead-{ids['Nisha Shah']}")).to_have_count(0)
    assert f"owner_id={seeded['ravi'].user_id}" in page.url
    filtered_url = page.url

    # Approve one.
    row = page.locator(f"#lead-{ids['Kiran Kumar']}")
    expect(row.locator(".phone")).to_have_text("+91 91234 56789")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash.ok")).to_have_text(f"Lead #{ids['Kiran Kumar']} approved.")
    assert page.url == filtered_url  # back to the same filtered queue
    expect(page.locator(f"#lead-{ids['Kiran Kumar']}")).to_have_count(0)

    # Reject one as spam.
    row = page.locator(f"#lead-{ids['Prize Offer']}")
    row.locator("select[name=reason]").select_option("spam")
    row.get_by_role("button", name="Reject").click()
    expect(page.locator(".flash.ok")).to_have_text(f"Lead #{ids['Prize Offer']} rejected (spam).")

    # Merge one into the CRM contact, found by its number in the picker.
    row = page.locator(f"#lead-{ids['Asha Rao']}")
    row.locator("summary").click()
    row.get_by_role("link", name="Merge into…").click()
    page.fill("input[name=q]", "080 4000 1234")
    page.click("form.filters button:has-text('Search')")
    page.locator(f"#candidate-contact-{seeded['contact_id']}").get_by_role("button", name="Merge into this").click()
    expect(page.locator(".flash.ok")).to_have_text(
        f"Lead #{ids['Asha Rao']} merged into contact #{seeded['contact_id']}.")
    assert page.url == filtered_url

    # Reassign one to Sita.
    row = page.locator(f"#lead-{ids['Dev Patel']}")
    row.locator("summary").click()
    row.locator("form.assign select[name=user_id]").select_option(label="Sita Rep")
    row.get_by_role("button", name="Reassign").click()
    expect(page.locator(".flash.ok")).to_have_text(f"Lead #{ids['Dev Patel']} reassigned.")
    expect(page.locator("table.leads tbody tr")).to_have_count(0)  # Ravi has nothing pending now

    # A note on the reassigned lead, from its page.
    page.goto(f"/leads/{ids['Dev Patel']}")
    expect(page.locator("#lead .owner")).to_have_text("Sita Rep")
    expect(page.locator("table.calls:not(.tasks) tbody tr")).to_have_count(1)
    expect(page.locator("table.calls:not(.tasks) tbody tr")).to_contain_text("outgoing")
    page.fill("textarea[name=text]", "Call back on Monday about the bulk order")
    page.click("button:has-text('Add note')")
    expect(page.locator(".flash.ok")).to_have_text(f"Note added to lead #{ids['Dev Patel']}.")
    expect(page.locator(".note").first).to_contain_text("Call back on Monday about the bulk order")
    page.screenshot(path=str(ARTIFACTS / "lead.png"), full_page=True)

    # Every lead, whatever its status: what the page shows.
    page.goto("/review?status=all")
    shown = {}
    for name, lead_id in ids.items():
        row = page.locator(f"#lead-{lead_id}")
        shown[name] = {"status": row.get_attribute("data-status"),
                       "owner": row.locator(".owner").inner_text().strip()}
    assert shown == {
        "Kiran Kumar": {"status": "approved", "owner": "Ravi Rep"},
        "Prize Offer": {"status": "rejected", "owner": "Ravi Rep"},
        "Asha Rao": {"status": "merged", "owner": "Ravi Rep"},
        "Dev Patel": {"status": "pending_review", "owner": "Sita Rep"},
        "Nisha Shah": {"status": "pending_review", "owner": "Sita Rep"},
    }
    page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)

    # The API, over HTTP with a bearer token, agrees with the pages.
    owners = {seeded["ravi"].user_id: "Ravi Rep", seeded["sita"].user_id: "Sita Rep"}
    api = playwright.request.new_context(base_url=live_server,
                                         extra_http_headers={"Authorization": f"Bearer {manager.token}"})
    try:
        for name, lead_id in ids.items():
            response = api.get(f"/api/v1/leads/{lead_id}")
            assert response.status == 200, response.text()
            lead = response.json()
            assert {"status": lead["status"], "owner": owners[lead["owner_id"]]} == shown[name], name
        asha = api.get(f"/api/v1/leads/{ids['Asha Rao']}").json()
        assert (asha["merged_into_type"], asha["merged_into_id"]) == ("contact", seeded["contact_id"])
        assert asha["calls"] == []  # the calls moved to the contact
        assert api.get(f"/api/v1/leads/{ids['Prize Offer']}").json()["reject_reason"] == "spam"
        dev = api.get(f"/api/v1/leads/{ids['Dev Patel']}").json()
        assert [n["text"] for n in dev["notes"]] == ["Call back on Monday about the bulk order"]
        caller = api.get("/api/v1/caller-id?number=%2B919876543210").json()
        assert (caller["match"]["record_type"], caller["match"]["record_id"]) == ("contact", seeded["contact_id"])
    finally:
        api.dispose()

    # The browser's session cookie opens pages, not the API.
    assert page.request.get("/api/v1/leads").status == 401
    context.close()

    # The same queue on a phone-sized screen: rows become cards, nothing scrolls sideways.
    phone = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                 has_touch=True, base_url=live_server)
    page = phone.new_page()
    page.goto("/login?next=/review%3Fstatus%3Dall")
    page.fill("input[name=email]", manager.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("table.leads tbody tr")).to_have_count(5)
    expect(page.locator("table.leads thead")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "review-390px.png"), full_page=True)
    phone.close()


WIDTHS = {1280: 900, 390: 844}


def shoot(page, name: str) -> None:
    """The page at both widths; nothing may scroll sideways on the phone."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (name, width)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_bulk_approve_the_merge_picker_and_editing_a_lead_in_a_browser(browser, live_server, seeded):
    """Tick two rows and approve them together (a result per row), merge a lead
    into another found by name, then edit the surviving lead's details: a bad
    address is a message beside the field; every number and the history show."""
    from playwright.sync_api import expect

    playwright, chromium = browser
    ids, manager = seeded["ids"], seeded["manager"]
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login?next=/review")
    page.fill("input[name=email]", manager.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("table.leads tbody tr")).to_have_count(5)
    expect(page.locator("form#bulk")).to_contain_text("all 5 matching these filters")
    page.check(f"#pick-{ids['Kiran Kumar']}")
    page.check(f"#pick-{ids['Nisha Shah']}")
    shoot(page, "review-bulk")
    page.locator("form#bulk").get_by_role("button", name="Approve").click()
    expect(page.locator("h1")).to_have_text("Bulk approve: 2 done")
    for name in ("Kiran Kumar", "Nisha Shah"):
        expect(page.locator(f"#result-{ids[name]}")).to_contain_text("done")
        expect(page.locator(f"#result-{ids[name]}")).to_contain_text(name)
    shoot(page, "review-bulk-results")
    page.click("text=Back to the queue")
    expect(page.locator("table.leads tbody tr")).to_have_count(3)

    # Merge Dev's lead into Kiran's (approved), found by name.
    page.locator(f"#lead-{ids['Dev Patel']} summary").click()
    page.locator(f"#lead-{ids['Dev Patel']}").get_by_role("link", name="Merge into…").click()
    expect(page.locator("h1")).to_have_text("Merge Dev Patel into…")
    page.fill("input[name=q]", "kir")
    page.click("form.filters button:has-text('Search')")
    candidate = page.locator(f"#candidate-lead-{ids['Kiran Kumar']}")
    expect(candidate).to_contain_text("+91 91234 56789")
    expect(page.locator(f"#candidate-lead-{ids['Dev Patel']}")).to_have_count(0)
    shoot(page, "merge-picker")
    candidate.get_by_role("button", name="Merge into this").click()
    expect(page.locator(".flash.ok")).to_have_text(f"Lead #{ids['Dev Patel']} merged into lead #{ids['Kiran Kumar']}.")

    # Kiran's page: both numbers as tel: links; edit the details.
    page.goto(f"/leads/{ids['Kiran Kumar']}")
    numbers = page.locator("dd.numbers a")
    expect(numbers).to_have_count(2)
    assert [numbers.nth(i).get_attribute("href") for i in range(2)] == ["tel:+919123456789", "tel:+919000022222"]
    expect(numbers.nth(1)).to_have_text("+91 90000 22222")
    page.fill("#f-company", "Kumar Steel")
    page.fill("#f-email", "kiran at example")
    page.click("button:has-text('Save details')")
    expect(page.locator("#e-email")).to_have_text("Not a valid email address.")
    expect(page.locator("#f-company")).to_have_value("Kumar Steel")  # what was typed stays
    shoot(page, "lead-edit-error")
    page.fill("#f-email", "kiran@example.com")
    page.click("button:has-text('Save details')")
    expect(page.locator(".flash.ok")).to_have_text(f"Details of lead #{ids['Kiran Kumar']} saved.")
    history = page.locator("ol.history li")
    expect(history.first).to_contain_text("Ravi Rep created the lead from a call")
    expect(history.nth(1)).to_contain_text("Meera Manager approved it")
    expect(history.last).to_contain_text("Meera Manager edited company, e-mail")
    expect(page.get_by_role("link", name="Erase this person…")).to_have_attribute(
        "href", f"/records/lead/{ids['Kiran Kumar']}/erase")
    shoot(page, "lead-page")

    api = playwright.request.new_context(base_url=live_server,
                                         extra_http_headers={"Authorization": f"Bearer {manager.token}"})
    try:
        kiran = api.get(f"/api/v1/leads/{ids['Kiran Kumar']}").json()
        assert (kiran["company"], kiran["email"], kiran["calls_count"]) == ("Kumar Steel", "kiran@example.com", 2)
        assert [e["action"] for e in kiran["history"]] == ["created", "approved", "edited"]
        assert api.get(f"/api/v1/leads/{ids['Nisha Shah']}").json()["status"] == "approved"
        dev = api.get(f"/api/v1/leads/{ids['Dev Patel']}").json()
        assert (dev["status"], dev["merged_into_id"]) == ("merged", ids["Kiran Kumar"])
    finally:
        api.dispose()
    context.close()
