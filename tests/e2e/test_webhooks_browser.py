"""The /webhooks page in a real headless Chromium: an admin adds an endpoint
(the secret shown once), sends a test, reads the delivery log, redelivers,
turns the endpoint off, by mouse and keyboard. Screenshots at 1280 and 390 px
go to test-artifacts/ (git-ignored)."""
from __future__ import annotations

import pytest

from tests.api.test_webhooks_support import Receiver
from tests.e2e import test_account_browser, test_review_browser
from tests.e2e.test_account_browser import every_input_is_labelled, shoot
from tests.e2e.test_console_browser import sign_in

pytestmark = pytest.mark.timeout(180)
browser, live_server = test_review_browser.browser, test_review_browser.live_server  # fixtures
context = test_account_browser.context  # fixture


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_an_admin_manages_a_webhook_in_the_browser(context, clean_app, live_server, make_org, receiver):
    from playwright.sync_api import expect

    clean_app.config.update(WEBHOOK_ALLOW_LOOPBACK=True, WEBHOOK_TIMEOUT_S=2.0)
    admin = make_org(name="Rao Traders", region="IN")
    page = context()
    sign_in(page, admin.email, live_server)
    page.get_by_role("link", name="Webhooks").click()
    expect(page.locator("h1")).to_have_text("Webhooks")
    every_input_is_labelled(page)
    shoot(page, "webhooks-empty")

    page.get_by_label("URL").fill("http://10.0.0.8/hook")
    page.get_by_label("lead.created").check()
    page.get_by_role("button", name="Add the endpoint").click()
    expect(page.locator("#new-url-error")).to_contain_text("private")
    shoot(page, "webhooks-refused")

    page.get_by_label("URL").fill(receiver.url("/ok"))
    page.get_by_label("call.logged").check()
    page.get_by_role("button", name="Add the endpoint").press("Enter")
    expect(page.locator("h1")).to_have_text("Webhook endpoint")
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert secret.startswith("whsec_")
    receiver.secrets.append(secret)
    shoot(page, "webhooks-secret-once")

    page.get_by_role("button", name="Send a test event").click()
    expect(page.locator(".flash.ok")).to_contain_text("test event")
    expect(page.locator("table.webhook-log tbody tr")).to_have_count(1)
    expect(page.locator("table.webhook-log tbody tr td").nth(1)).to_have_text("Delivered")
    assert page.get_by_role("textbox", name="Signing secret").count() == 0  # shown once
    assert receiver.requests[0]["verified"] == [secret]
    page.get_by_role("button", name="Redeliver webhook.test").click()
    expect(page.locator("table.webhook-log tbody tr td").nth(2)).to_have_text("2")
    every_input_is_labelled(page)
    shoot(page, "webhooks-endpoint")

    page.get_by_label("On: send events to this endpoint").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.ok")).to_have_text("Saved.")
    expect(page.get_by_role("button", name="Send a test event")).to_be_disabled()
    page.get_by_role("link", name="All webhooks").click()
    expect(page.locator("table.webhooks-list tbody tr td").nth(2)).to_have_text("Off")
    shoot(page, "webhooks-list")
