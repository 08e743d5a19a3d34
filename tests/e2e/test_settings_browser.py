"""The admin's /settings in a real headless Chromium: the time zone changed
and reverted to the region's, a tracking number added (with the keyboard, a
bad one first), an API key created and shown once, a suppressed number
removed; a manager gets a 403 page. Screenshots at 1280 and 390 px wide go
to test-artifacts/ (git-ignored)."""
from __future__ import annotations

import pytest

from tests.api.test_suppressions import reject
from tests.e2e import test_account_browser, test_review_browser
from tests.e2e.test_account_browser import every_input_is_labelled, shoot
from tests.e2e.test_console_browser import sign_in
from tests.web import conftest as web_conftest

pytestmark = pytest.mark.timeout(180)
browser, live_server = test_review_browser.browser, test_review_browser.live_server  # fixtures
context, page_team = test_account_browser.context, web_conftest.page_team  # fixtures


def test_an_admin_changes_the_settings_in_the_browser(context, live_server, page_team):
    from playwright.sync_api import expect

    admin, manager, ravi, _ = page_team
    reject(admin, "Prize Offer", "+91 90000 11111", "spam")
    reject(admin, "Ravi's Mother", "+91 90000 22222", "personal", owner=ravi)
    page = context()
    sign_in(page, admin.email, live_server)
    page.get_by_role("link", name="Settings").click()
    expect(page.locator("h1")).to_have_text("Settings")
    every_input_is_labelled(page)
    expect(page.locator("#organization-timezone-hint")).to_contain_text("Asia/Kolkata, the region's default")
    shoot(page, "settings")

    # The time zone: chosen, then back to the region's.
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_role("button", name="Save the organisation").click()
    expect(page.locator(".flash.ok")).to_have_text("The organisation is saved.")
    expect(page.locator("#organization-timezone-hint")).to_contain_text("Europe/Paris, chosen by an admin")
    assert admin.get("/api/v1/settings").json["timezone"] == "Europe/Paris"
    page.get_by_label("Time zone").select_option(label="The region's default (Asia/Kolkata)")
    page.get_by_role("button", name="Save the organisation").click()
    expect(page.locator("#organization-timezone-hint")).to_contain_text("Asia/Kolkata, the region's default")
    assert admin.get("/api/v1/settings").json["timezone"] == "Asia/Kolkata"

    # A tracking number, with the keyboard: a bad number is a message beside the field.
    page.locator("#tracking-number").focus()
    page.keyboard.type("12")
    page.keyboard.press("Tab")
    expect(page.locator("#tracking-source")).to_be_focused()
    page.keyboard.type("Newspaper ad")
    page.keyboard.press("Enter")
    expect(page.locator("#tracking-number-error")).to_contain_text("Not a usable phone number")
    expect(page.locator("#tracking-source")).to_have_value("Newspaper ad")
    shoot(page, "settings-tracking-error")
    page.locator("#tracking-number").fill("+91 80 4000 1234")
    page.locator("#tracking-number").press("Enter")
    expect(page.locator(".flash.ok")).to_have_text("The tracking number is added.")
    expect(page.locator("table.tracking tbody tr")).to_have_count(1)
    expect(page.locator("table.tracking")).to_contain_text("+91 80 4000 1234")
    assert [t["number"] for t in admin.get("/api/v1/settings").json["tracking_numbers"]] == ["+918040001234"]

    # An API key: shown once.
    page.locator("#api_keys-key_name").fill("Office PBX")
    page.get_by_role("button", name="Create the key").click()
    expect(page.locator(".new-key")).to_contain_text("it is shown this once")
    expect(page.locator(".new-key")).to_be_in_viewport()  # at the top of the answer, not below the fold
    key = page.locator("#api_keys-new").input_value()
    assert key and len(key) > 20
    shoot(page, "settings-api-key")
    page.goto("/settings")
    expect(page.locator("table.keys tbody tr")).to_have_count(1)
    expect(page.locator(".new-key")).to_have_count(0)
    assert key not in page.content()

    # A suppressed number off the list.
    expect(page.locator("table.suppressions tbody tr")).to_have_count(2)
    shoot(page, "settings-suppressions")
    page.get_by_role("button", name="Remove Prize Offer from the suppression list").click()
    expect(page.locator(".flash.ok")).to_contain_text("off the suppression list")
    expect(page.locator("table.suppressions tbody tr")).to_have_count(1)
    assert [i["lead_name"] for i in admin.get("/api/v1/suppressions").json["items"]] == ["Ravi's Mother"]

    viewer = context()  # a manager: no link, and a 403 page
    sign_in(viewer, manager.email, live_server)
    expect(viewer.get_by_role("link", name="Settings")).to_have_count(0)
    response = viewer.goto("/settings")
    assert response.status == 403
    expect(viewer.locator("h1")).to_have_text("Not allowed")
    expect(viewer.locator("main")).to_contain_text("Only an admin can see and change the organisation's settings")
    shoot(viewer, "settings-manager")
