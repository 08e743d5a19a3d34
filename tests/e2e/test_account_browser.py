"""The account pages in a real headless Chromium against the app on a
loopback HTTP server: an invitation accepted, a forgotten password set again,
the password changed. E-mails are read from the outbox the service writes
(SMTP_URL unset), as the person would open them; forms are filled with the
keyboard. Screenshots of each page, 1280 and 390 px wide, go to
test-artifacts/ (git-ignored).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.test_invites import outbox_messages
from tests.api.test_password_reset import mails_to
from tests.e2e import test_review_browser
from tests.e2e.test_review_browser import ARTIFACTS, PASSWORD

pytestmark = pytest.mark.timeout(180)
browser, live_server = test_review_browser.browser, test_review_browser.live_server  # fixtures
NEW_PASSWORD = "a brand new passphrase"
WIDTHS = {1280: 900, 390: 844}


def shoot(page, name: str) -> None:
    """The page at both widths; nothing may scroll sideways on the phone."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (name, width)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def link_in(message) -> str:
    found = re.findall(r"(http://127\.0\.0\.1:\d+/\S+token=\S+)", message.get_content())
    assert len(found) == 1, message.get_content()
    return found[0]


def every_input_is_labelled(page) -> None:
    unlabelled = page.evaluate("""[...document.querySelectorAll('input:not([type=hidden]):not([hidden])')]
        .filter(i => !(i.labels && i.labels.length)).map(i => i.name)""")
    assert unlabelled == []


@pytest.fixture
def context(browser, live_server, clean_app):
    clean_app.config["PUBLIC_BASE_URL"] = live_server  # the e-mailed links open this server
    for old in Path(clean_app.config["OUTBOX_DIR"]).glob("*.eml"):  # earlier tests' e-mails
        old.unlink()
    _, chromium = browser
    made = []

    def new():
        made.append(chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server))
        page = made[-1].new_page()
        page.set_default_timeout(15_000)
        return page

    yield new
    for each in made:
        each.close()


def test_an_invitation_is_accepted_in_the_browser(context, clean_app, make_org, live_server):
    from playwright.sync_api import expect

    admin = make_org(name="Rao Traders")
    assert admin.post("/api/v1/invites", json={"email": "meera@example.test", "role": "manager"}).status_code == 201
    assert admin.post("/api/v1/invites", json={"email": "ravi@example.test", "role": "rep"}).status_code == 201
    links = {m["To"]: link_in(m) for _, m in outbox_messages(clean_app)}

    page = context()
    page.goto(links["meera@example.test"])
    expect(page.locator("h1")).to_have_text("Join Rao Traders")
    every_input_is_labelled(page)
    shoot(page, "invite")
    # The keyboard alone: the name field has the focus, Tab moves on, Enter sends.
    page.keyboard.type("Meera")
    page.keyboard.press("Tab")
    page.keyboard.type("short")
    page.keyboard.press("Enter")
    expect(page.locator("#e-password")).to_have_text("Choose a password of at least 10 characters.")
    shoot(page, "invite-error")
    page.get_by_label("Your name").fill("Meera Manager")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(f"{live_server}/review")
    expect(page.locator(".flash.ok")).to_have_text("Welcome to Rao Traders, Meera Manager. You are signed in.")
    expect(page.locator("header .who")).to_contain_text("Meera Manager")

    rep = context()
    rep.goto(links["ravi@example.test"])
    rep.get_by_label("Your name").fill("Ravi Rep")
    rep.get_by_label("Password").fill(PASSWORD)
    rep.get_by_role("button", name="Create my account").click()
    expect(rep.locator("h1")).to_have_text("Your account is ready")
    expect(rep.locator("main")).to_contain_text("CallSync app on your Android phone")
    shoot(rep, "invite-rep")

    rep.goto(links["ravi@example.test"])  # the link again: used
    expect(rep.locator("h1")).to_have_text("This invitation has already been used")
    shoot(rep, "invite-used")


def test_a_forgotten_password_is_set_again_through_the_emailed_link(context, clean_app, make_org,
                                                                    live_server):
    from playwright.sync_api import expect

    admin = make_org()
    page = context()
    page.goto("/login")
    shoot(page, "login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.locator("h1")).to_have_text("Forgot your password?")
    every_input_is_labelled(page)
    shoot(page, "reset-request")
    page.get_by_label("E-mail address").fill(admin.email)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    shoot(page, "reset-sent")

    page.goto(link_in(mails_to(clean_app, admin.email)[0]))
    expect(page.locator("h1")).to_have_text("Set a new password")
    every_input_is_labelled(page)
    shoot(page, "reset-form")
    page.keyboard.type(NEW_PASSWORD)  # the field has the focus
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.locator(".flash.ok")).to_contain_text("Your password is set")
    page.get_by_label("E-mail address").fill(admin.email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/review")
    assert admin.get("/api/v1/me").status_code == 401  # the token from before the reset

    page.goto(link_in(mails_to(clean_app, admin.email)[0]))
    expect(page.locator("h1")).to_have_text("This link has already been used")
    shoot(page, "reset-used")


def test_the_password_is_changed_on_the_account_page(context, make_org, live_server, client):
    from playwright.sync_api import expect

    admin = make_org()
    here, there = context(), context()
    for page in (here, there):
        page.goto("/login")
        page.get_by_label("E-mail address").fill(admin.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{live_server}/review")

    here.get_by_role("link", name="Account").click()
    expect(here.locator("h1")).to_have_text("Your account")
    every_input_is_labelled(here)
    shoot(here, "account")
    here.get_by_label("Current password").fill("not my password")
    here.get_by_label("New password").fill(NEW_PASSWORD)
    here.get_by_role("button", name="Change the password").click()
    expect(here.locator("#e-current_password")).to_have_text("The current password is wrong.")
    here.get_by_label("Current password").fill(PASSWORD)
    here.get_by_label("New password").fill(NEW_PASSWORD)
    here.get_by_label("New password").press("Enter")
    expect(here.locator(".flash.ok")).to_contain_text("Your password is changed")
    shoot(here, "account-changed")

    there.reload()  # the other browser is signed out
    expect(there).to_have_url(re.compile(r"/login\?next="))
    here.reload()
    expect(here.locator("h1")).to_have_text("Your account")
    assert client.post("/api/v1/auth/login", json={"email": admin.email, "password": NEW_PASSWORD}).status_code == 200

    here.get_by_role("button", name="Sign out everywhere").click()
    expect(here).to_have_url(f"{live_server}/login")
    expect(here.locator(".flash.ok")).to_contain_text("signed out everywhere")


def test_a_user_sets_their_time_zone_and_office_hours_and_an_admin_a_teammates(context, make_org, make_user,
                                                                               live_server):
    from playwright.sync_api import expect

    admin = make_org(region="IN")
    ravi = make_user(admin, role="rep", name="Ravi Rep")
    page = context()
    page.goto("/login")
    page.get_by_label("E-mail address").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/review")

    page.get_by_role("link", name="Account").click()
    page.get_by_label("Time zone", exact=True).select_option("Europe/London")
    page.get_by_label("Working hours:").check()
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri"):
        page.get_by_label(day, exact=True).check()
    page.get_by_label("From").fill("09:00")
    page.get_by_label("to", exact=True).fill("18:00")
    page.get_by_label("to", exact=True).press("Enter")
    expect(page.locator(".flash.ok")).to_contain_text("Your time zone and office hours are saved.")
    expect(page.locator("dl.facts")).to_contain_text("Monday–Friday, 09:00–18:00")
    expect(page.locator("dl.facts")).to_contain_text("Europe/London")
    every_input_is_labelled(page)
    shoot(page, "account-hours")

    page.goto(f"/team/users/{ravi.user_id}/hours")
    expect(page.locator("h1")).to_have_text("Ravi Rep: time zone and office hours")
    page.get_by_label("Working hours:").check()
    page.get_by_label("Sat", exact=True).check()
    page.get_by_label("From").fill("22:00")
    page.get_by_label("to", exact=True).fill("06:00")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("dl.facts")).to_contain_text("22:00–06:00 (ends the next day)")
    every_input_is_labelled(page)
    shoot(page, "member-hours")
