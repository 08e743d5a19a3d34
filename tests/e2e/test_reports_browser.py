"""The reports dashboard in a real headless Chromium: a manager opens
/reports from the nav, changes the range and the rep with the form, reads
the charts (SVG, drawn by the server) and tables, and downloads a table.
Screenshots at 1280 and 390 px go to test-artifacts/ (git-ignored)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e import test_account_browser, test_review_browser
from tests.e2e.test_account_browser import every_input_is_labelled, shoot
from tests.e2e.test_console_browser import sign_in
from tests.phone_data import call_row
from tests.web import conftest as web_conftest

pytestmark = pytest.mark.timeout(180)
browser, live_server = test_review_browser.browser, test_review_browser.live_server  # fixtures
context, page_team = test_account_browser.context, web_conftest.page_team  # fixtures


def _month_of_calls(phone, seed: int, today: datetime) -> None:
    """Three weeks of a rep's calls, a few dozen numbers, some new ones (leads)."""
    rng = random.Random(seed)
    rows = []
    for i in range(120):
        when = today - timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 9), minutes=rng.randint(0, 59))
        number = f"+91 98{rng.randint(100, 130):03d} {rng.randint(10000, 10005):05d}"
        kind = rng.choice((1, 1, 2, 2, 2, 3, 5))
        rows.append(call_row(i + 1, number, type_=kind, duration=0 if kind in (3, 5) else rng.randint(5, 600),
                             date=int(when.timestamp() * 1000)))
    response = phone.post("/api/v1/sync/calls", device=True, json={"batch_id": f"seed{seed}", "calls": rows})
    assert response.status_code == 200, response.json


def test_a_manager_reads_the_reports_dashboard(context, clean_app, live_server, page_team):
    from playwright.sync_api import expect

    admin, manager, ravi, sita = page_team
    today = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    _month_of_calls(ravi, 1, today)
    _month_of_calls(sita, 2, today)
    page = context()
    sign_in(page, manager.email, live_server)

    page.get_by_role("link", name="Reports").click()
    expect(page.locator("h1")).to_have_text("Reports")
    every_input_is_labelled(page)
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.locator("#calls-by-rep tbody tr")).to_have_count(2)
    expect(page.locator("#leads tbody tr")).to_have_count(1)
    shoot(page, "reports")

    # One rep, by the form.
    page.get_by_label("People").select_option(label="Sita Rep")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#calls-by-rep tbody tr")).to_have_count(1)
    expect(page.locator("#calls-by-rep tbody th")).to_have_text("Sita Rep")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV of missed calls").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.splitlines()[0] == "user_id,missed,returned,unreturned,median_callback_seconds"
    assert str(sita.user_id) in text and str(ravi.user_id) not in text.splitlines()[1].split(",")[0]

    # A reversed range is said at the top.
    page.get_by_label("From").fill(today.date().isoformat())
    page.get_by_label("To").fill((today - timedelta(days=3)).date().isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#report-error")).to_contain_text("`to` is before `from`")
    shoot(page, "reports-error")
