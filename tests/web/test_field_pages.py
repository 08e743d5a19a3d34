"""Field realities in the browser: silent phones and their health on
`/devices`; your private numbers on `/account/private-numbers`."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.phone_data import call_row
from tests.web.conftest import csrf_of, upload_calls
from tests.web.test_console_pages import signed_in

HEALTH = {"battery_optimized": True, "autostart": False,
          "permissions": {"call_log": True, "contacts": True, "notifications": False}, "app_version": "2.1.0"}


def test_the_devices_page_shows_a_silent_phone_and_its_health(page_team, clock, clean_app):
    admin, manager, ravi, _ = page_team
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc))
    upload_calls(ravi, [call_row(1)])
    assert ravi.post(f"/api/v1/devices/{ravi.device_id}/health", device=True, json=HEALTH).status_code == 204
    clock.advance(hours=5)
    page = signed_in(clean_app, manager).get("/devices").get_data(as_text=True)
    row = page[page.index(f'id="device-{ravi.device_id}"'):]
    row = row[:row.index("</tr>")]
    assert "silent since" in row
    assert "Battery optimisation" in row and "not allowed" in row and "revoked" in row


def test_a_manager_marks_and_removes_a_private_number_on_the_page(page_team, make_device, clean_app):
    _, manager, _, _ = page_team
    ravi = make_device(manager)  # a manager who also calls from the app (reps use the API from the app)
    upload_calls(ravi, [call_row(1, "+91 91234 56789")])
    browser = signed_in(clean_app, ravi)
    assert "private-numbers" in browser.get("/account").get_data(as_text=True)
    token = csrf_of(browser, "/account/private-numbers")
    bad = browser.post("/account/private-numbers", data={"csrf_token": token, "number": "nonsense"})
    assert bad.status_code == 422 and "phone number" in bad.get_data(as_text=True)
    done = browser.post("/account/private-numbers", data={"csrf_token": token, "number": "091234 56789"},
                        follow_redirects=True)
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "ending …89" in text and "1 of your calls" in text
    assert "91234" not in text
    [item] = ravi.get("/api/v1/me/private-numbers").json["items"]
    removed = browser.post(f"/account/private-numbers/{item['id']}/remove", data={"csrf_token": token},
                           follow_redirects=True)
    assert removed.status_code == 200 and ravi.get("/api/v1/me/private-numbers").json["items"] == []


def test_a_manager_marks_their_own_call_private_from_the_lead_page(page_team, make_device, clean_app):
    _, manager, ravi, _ = page_team
    phone = make_device(manager)
    upload_calls(phone, [call_row(1, "+91 91234 56789")], batch="own")
    upload_calls(ravi, [call_row(2, "+91 91234 56789")], batch="ravis")
    browser = signed_in(clean_app, phone)
    lead_id = manager.get("/api/v1/leads").json["items"][0]["id"]
    page = browser.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert page.count("Mark private") == 1  # on the manager's own call only, not on Ravi's
    token = csrf_of(browser, f"/leads/{lead_id}")
    done = browser.post("/account/private-numbers", data={"csrf_token": token, "number": "+919123456789"},
                        follow_redirects=True)
    assert done.status_code == 200 and "1 of your calls" in done.get_data(as_text=True)
    calls = manager.get("/api/v1/calls").json["items"]
    assert [c["user_id"] for c in calls] == [ravi.user_id]  # Ravi's call stays, and so does his lead
