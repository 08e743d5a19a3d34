"""Time zone and office hours in the browser: your own on /account, a
teammate's on /team/users/<id>/hours (admins only). Every page then shows
times in the viewer's zone, labelled; bad input is a message, never a 500."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.phone_data import call_row
from tests.web.conftest import csrf_of, sign_in, upload_calls
from tests.web.test_account_pages import page_text

WEEKDAYS = {"hours_set": "yes", "days": ["0", "1", "2", "3", "4"], "start": "09:00", "end": "18:00"}


def signed_in(app, actor):
    browser = app.test_client()
    assert sign_in(browser, actor.email).status_code == 302
    return browser


def post(browser, path, **data):
    return browser.post(path, data={"csrf_token": csrf_of(browser, "/account"), **data})


def stored(app, user_id):
    from mobile_sync.store.models import User
    from server.extensions import db

    with app.app_context():
        user = db.session.get(User, user_id)
        return user.timezone, user.office_hours


def test_a_manager_sets_their_zone_and_hours_and_the_pages_show_times_in_it(clean_app, page_team, clock):
    admin, manager, ravi, _ = page_team
    clock.set(datetime(2026, 11, 19, 9, 0, tzinfo=timezone.utc))
    upload_calls(ravi, [call_row(1, "+91 98765 43210", name="Asha Rao")])
    browser = signed_in(clean_app, manager)
    assert "19 Nov 2026, 14:30 IST" in page_text(browser.get("/review?status=all"))  # the organisation's zone

    done = post(browser, "/account/hours", timezone="Europe/London", **WEEKDAYS)
    assert (done.status_code, done.headers["Location"]) == (302, "/account")
    assert stored(clean_app, manager.user_id) == ("Europe/London", {"days": [0, 1, 2, 3, 4], "start": "09:00",
                                                                    "end": "18:00"})
    account = page_text(browser.get("/account"))
    assert "Your time zone and office hours are saved." in account
    assert "Monday–Friday, 09:00–18:00" in account
    assert "19 Nov 2026, 09:00 GMT" in page_text(browser.get("/review?status=all"))
    # The admin, who set no zone, still reads the organisation's.
    assert "19 Nov 2026, 14:30 IST" in page_text(signed_in(clean_app, admin).get("/review?status=all"))


def test_choosing_the_organisations_zone_and_no_hours_clears_both(clean_app, page_team):
    manager = page_team[1]
    browser = signed_in(clean_app, manager)
    assert post(browser, "/account/hours", timezone="Asia/Tokyo", **WEEKDAYS).status_code == 302
    assert post(browser, "/account/hours", timezone="", hours_set="no").status_code == 302
    assert stored(clean_app, manager.user_id) == (None, None)
    assert "The organisation's (Asia/Kolkata)" in page_text(browser.get("/account"))


def test_a_night_shift_is_described_as_ending_the_next_day(clean_app, page_team):
    manager = page_team[1]
    browser = signed_in(clean_app, manager)
    night = {"hours_set": "yes", "days": ["0", "1", "2", "3"], "start": "22:00", "end": "06:00"}
    assert post(browser, "/account/hours", timezone="", **night).status_code == 302
    assert "Monday–Thursday, 22:00–06:00 (ends the next day)" in page_text(browser.get("/account"))


def test_bad_zone_or_hours_are_messages_on_the_form_and_nothing_is_stored(clean_app, page_team):
    manager = page_team[1]
    browser = signed_in(clean_app, manager)
    bad_zone = post(browser, "/account/hours", timezone="Mars/Olympus", hours_set="no")
    assert bad_zone.status_code == 422
    assert "Choose a time zone from the list." in page_text(bad_zone)
    bad_time = post(browser, "/account/hours", timezone="", hours_set="yes", days=["0"], start="25:00",
                    end="18:00")
    assert bad_time.status_code == 422
    page = page_text(bad_time)
    assert "Pick at least one day, and a start and end time (HH:MM)." in page
    assert 'value="25:00"' in page  # what was typed is shown again
    assert stored(clean_app, manager.user_id) == (None, None)


def test_an_admin_sets_a_teammates_hours_and_a_manager_may_not(clean_app, page_team, make_org):
    admin, manager, ravi, _ = page_team
    browser = signed_in(clean_app, admin)
    assert f'href="/team/users/{ravi.user_id}/hours">Zone &amp; hours' in page_text(browser.get("/team"))
    page = page_text(browser.get(f"/team/users/{ravi.user_id}/hours"))
    assert "Ravi Rep: time zone and office hours" in page and "Not set" in page
    assert '<label for="f-timezone">Time zone</label>' in page
    done = browser.post(f"/team/users/{ravi.user_id}/hours",
                        data={"csrf_token": csrf_of(browser, "/team"), "timezone": "Asia/Dubai", **WEEKDAYS})
    assert done.status_code == 302
    assert stored(clean_app, ravi.user_id)[0] == "Asia/Dubai"
    assert "Monday–Friday, 09:00–18:00" in page_text(browser.get(f"/team/users/{ravi.user_id}/hours"))

    refused = signed_in(clean_app, manager).get(f"/team/users/{ravi.user_id}/hours")
    assert refused.status_code == 403 and "Only an admin" in page_text(refused)
    stranger = make_org(name="Elsewhere Ltd")
    assert browser.get(f"/team/users/{stranger.user_id}/hours").status_code == 404
    assert browser.post(f"/team/users/{stranger.user_id}/hours",
                        data={"csrf_token": csrf_of(browser, "/team"), "timezone": "Asia/Dubai",
                              "hours_set": "no"}).status_code == 404
    assert stored(clean_app, stranger.user_id) == (None, None)


def test_the_form_needs_its_csrf_token(clean_app, page_team):
    manager = page_team[1]
    browser = signed_in(clean_app, manager)
    refused = browser.post("/account/hours", data={"timezone": "Asia/Tokyo", "hours_set": "no"})
    assert refused.status_code == 400
    assert stored(clean_app, manager.user_id) == (None, None)
