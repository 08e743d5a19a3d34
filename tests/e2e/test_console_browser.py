"""The team console in a real headless Chromium: an admin invites a teammate
and withdraws an invitation, changes a role and revokes a phone, by mouse
and keyboard. Screenshots of /team and /devices, 1280 and 390 px wide, go to
test-artifacts/ (git-ignored)."""
from __future__ import annotations

import pytest

from tests.api.test_invites import outbox_messages
from tests.e2e import test_account_browser, test_review_browser
from tests.e2e.test_account_browser import every_input_is_labelled, shoot
from tests.e2e.test_review_browser import PASSWORD
from tests.web import conftest as web_conftest

pytestmark = pytest.mark.timeout(180)
browser, live_server = test_review_browser.browser, test_review_browser.live_server  # fixtures
context, page_team = test_account_browser.context, web_conftest.page_team  # fixtures


def sign_in(page, email: str, live_server: str) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/review")


def test_an_admin_runs_the_team_and_its_phones_in_the_browser(context, clean_app, live_server, page_team,
                                                              make_device):
    from playwright.sync_api import expect

    admin, manager, ravi, sita = page_team
    make_device(manager, consent=False, model="Galaxy A15", app_version="1.1.0", fcm_token=None,
                fcm_fid="fid-1", push_public_key="k" * 43 + "=")
    page = context()
    sign_in(page, admin.email, live_server)

    page.get_by_role("link", name="Team").click()
    expect(page.locator("h1")).to_have_text("Team")
    every_input_is_labelled(page)
    # The keyboard: type the address, Tab reaches the role, Enter on the button sends.
    page.get_by_label("E-mail address").focus()
    page.keyboard.type("nina@example.test")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Role", exact=True)).to_be_focused()
    page.get_by_label("Role", exact=True).select_option("manager")
    page.get_by_role("button", name="Send the invitation").press("Enter")
    expect(page.locator(".flash.ok")).to_have_text("Invitation sent to nina@example.test as manager.")
    assert [m["To"] for _, m in outbox_messages(clean_app)].count("nina@example.test") == 1
    page.get_by_label("E-mail address").fill("omar@example.test")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator("table.invites tbody tr")).to_have_count(2)

    page.get_by_label("E-mail address").fill("not an address")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator("#e-email")).to_have_text("Enter an e-mail address, such as name@example.com.")
    shoot(page, "team-invite-error")

    page.get_by_role("button", name="Withdraw invitation to omar@example.test").click()
    expect(page.locator(".flash.ok")).to_contain_text("The invitation is withdrawn")
    expect(page.locator("table.invites tbody tr")).to_have_count(1)

    page.get_by_label("Role of Ravi Rep").select_option("manager")
    page.locator(f"#user-{ravi.user_id}").get_by_role("button", name="Change role").click()
    expect(page.locator(".flash.ok")).to_have_text("Ravi Rep is now manager.")
    expect(page.locator(f"#user-{ravi.user_id} .badge.role-manager")).to_have_text("manager")
    page.get_by_label("Role of Admin Person").select_option("rep")
    page.locator(f"#user-{admin.user_id}").get_by_role("button", name="Change role").click()
    expect(page.locator(".flash.error")).to_contain_text("You cannot demote or disable yourself")
    shoot(page, "team")

    page.get_by_role("link", name="Devices").click()
    expect(page.locator("h1")).to_have_text("Devices")
    expect(page.locator("table.devices tbody tr")).to_have_count(3)
    shoot(page, "devices")
    page.locator(f"#device-{ravi.device_id}").get_by_role("link", name="Revoke").click()
    expect(page.locator("h1")).to_have_text("Revoke this phone?")
    shoot(page, "devices-revoke")
    page.get_by_role("button", name="Revoke the phone").click()
    expect(page.locator(".flash.ok")).to_contain_text("Pixel 8 of Ravi Rep is revoked")
    expect(page.locator("table.devices tbody tr")).to_have_count(2)
    assert ravi.get(f"/api/v1/devices/{ravi.device_id}", device=True).status_code == 401

    viewer = context()  # the manager looks, read-only
    sign_in(viewer, manager.email, live_server)
    viewer.goto("/team")
    expect(viewer.get_by_role("button", name="Change role")).to_have_count(0)
    shoot(viewer, "team-manager")
