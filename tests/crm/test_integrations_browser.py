"""The /integrations page in a real headless Chromium: an admin connects
HubSpot (a bad token refused first), sets the rules, pulls now (and sees
a contact deleted in HubSpot removed), reads the push log, by mouse and keyboard. Screenshots at 1280 and 390 px go to
test-artifacts/ (git-ignored)."""
from __future__ import annotations

import pytest

from tests.crm.conftest import TOKEN
from tests.e2e import test_account_browser, test_review_browser
from tests.e2e.test_account_browser import every_input_is_labelled, shoot
from tests.e2e.test_console_browser import sign_in
from tests.phone_data import call_row

pytestmark = pytest.mark.timeout(180)
browser, live_server = test_review_browser.browser, test_review_browser.live_server  # fixtures
context = test_account_browser.context  # fixture


def test_an_admin_connects_hubspot_in_the_browser(context, crm_app, live_server, make_org, make_user, make_device,
                                                  hubspot):
    from playwright.sync_api import expect

    admin = make_org(name="Rao Traders", region="IN")
    page = context()
    sign_in(page, admin.email, live_server)
    page.get_by_role("link", name="Integrations").click()
    expect(page.locator("h1")).to_have_text("Integrations")
    every_input_is_labelled(page)
    shoot(page, "integrations-empty")

    page.get_by_label("HubSpot API token").fill("pat-na1-not-this-one")
    page.get_by_role("button", name="Connect HubSpot").click()
    expect(page.locator("#hubspot-token-error")).to_contain_text("refused this token")
    shoot(page, "integrations-refused")

    page.get_by_label("HubSpot API token").fill(TOKEN)
    page.locator("#hubspot-min").fill("10")
    page.get_by_role("button", name="Connect HubSpot").press("Enter")
    expect(page.locator(".flash.ok")).to_contain_text("HubSpot is connected")
    expect(page.locator("#integration-hubspot")).to_contain_text("Connected (token …1234)")
    assert TOKEN not in page.content()

    rep = make_device(make_user(admin, name="Ravi Rep"))
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(1, "+91 91234 56789", duration=60), call_row(2, "+91 91234 56789", duration=3)]})
    dev = hubspot.add_contact("+919000000001", "Dev", "Shah")
    page.get_by_role("button", name="Pull now from HubSpot").click()
    expect(page.locator(".flash.ok")).to_contain_text("pull is on its way")
    expect(page.locator("#integration-hubspot")).to_contain_text("1 logged")
    every_input_is_labelled(page)
    shoot(page, "integrations-connected")

    # Dev is deleted in HubSpot: the next pull removes his contact, and the page says why.
    hubspot.archive(dev)
    page.get_by_role("button", name="Pull now from HubSpot").click()
    expect(page.locator("#integration-hubspot")).to_contain_text("1 contact removed: deleted in HubSpot")
    shoot(page, "integrations-removed")

    page.get_by_role("link", name="Push log of HubSpot").click()
    expect(page.locator("h1")).to_have_text("HubSpot: push log")
    expect(page.locator("table.webhooks-list tbody tr")).to_have_count(1)
    expect(page.locator("table.webhooks-list tbody tr td").nth(1)).to_have_text("Logged")
    shoot(page, "integrations-push-log")
