"""The API reference page in a real Chromium, at desktop and phone width:
an integrator finds an operation, its fields and an example request there."""
from __future__ import annotations

from tests.e2e.test_review_browser import ARTIFACTS, browser, live_server  # noqa: F401  (fixtures)


def test_the_reference_shows_each_operations_fields_and_an_example(browser, live_server):  # noqa: F811
    from playwright.sync_api import expect

    _, chromium = browser
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 390):
        context = chromium.new_context(viewport={"width": width, "height": 900}, base_url=live_server)
        page = context.new_page()
        page.goto("/api/v1/docs")
        page.get_by_role("link", name="POST /api/v1/leads", exact=True).click()
        section = page.locator("section#leads_create_lead")
        expect(section).to_be_in_viewport()
        expect(section.locator("table tr", has_text="phone")).to_contain_text("required")
        expect(section.locator("pre")).to_contain_text("curl -X POST http://127.0.0.1:8000/api/v1/leads")
        expect(section.locator("pre")).to_contain_text('"phone": "+91 98765 43210"')
        ringing = page.locator("section#caller_id_ringing")
        expect(ringing).to_contain_text("device token")
        # Nothing sticks out sideways at phone width: the page scrolls only down.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(ARTIFACTS / f"api-docs-{width}.png"))
        context.close()
