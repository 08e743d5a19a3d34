"""The admin's /settings through Flask's test client: every section saves
through the API's schema and domain function and shows what was saved; bad
input is a message beside the field and stores nothing; a manager gets a 403
page; another organisation's objects are not found or refused; a form
without its CSRF token is refused; a new API key is shown once."""
from __future__ import annotations

import re

import pytest

from tests.api.test_suppressions import reject
from tests.web.conftest import csrf_of, sign_in
from tests.web.test_account_pages import page_text

POSTS = ("/settings/organization", "/settings/auto-leads", "/settings/tracking-numbers",
         "/settings/tracking-numbers/remove", "/settings/campaign-devices", "/settings/retention",
         "/settings/consent", "/settings/consent/revert", "/settings/api-keys")


def signed_in(app, actor):
    browser = app.test_client()
    assert sign_in(browser, actor.email).status_code == 302
    return browser


def post(browser, path, data=None, **fields):
    return browser.post(path, data={"csrf_token": csrf_of(browser, "/account"), **(data or {}), **fields})


def saved(admin) -> dict:
    return admin.get("/api/v1/settings").json


def stored_tracking(app, admin) -> list[dict]:
    """The saved tracking numbers, read in the database: GET /api/v1/settings
    cannot show a tracking number with a date yet (it answers 500)."""
    from mobile_sync.org_settings import effective_settings
    from mobile_sync.store.models import Organization
    from server.extensions import db

    with app.app_context():
        return effective_settings(db.session.get(Organization, admin.organization_id))["tracking_numbers"]


def error_of(response, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>',
                      response.get_data(as_text=True))
    assert match, (field_id, page_text(response)[-3000:])
    return match.group(1)


@pytest.fixture
def admin_browser(clean_app, page_team):
    return page_team[0], signed_in(clean_app, page_team[0])


RULES = {"enabled": "true", "call_types": ["incoming", "missed"], "min_duration_s": "12",
         "skip_device_contacts": "true", "business_hours": "set", "days": ["0", "1", "2", "3", "4"],
         "start": "09:30", "end": "18:00", "repeat_caller_threshold": "2", "queue_alert_threshold": "40"}


# --- who may see it -----------------------------------------------------------------

def test_an_admin_sees_every_section_with_a_label_on_every_input(admin_browser):
    admin, browser = admin_browser
    response = browser.get("/settings")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for title in ("Organisation", "Auto-lead rules", "Tracking numbers", "Campaign phones", "Retention",
                  "Consent text", "Suppression list", "API keys"):
        assert f'-title">{title}</h2>' in html
    assert '<a href="/settings">Settings</a>' in html
    ids = re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html)
    assert ids and all(f'<label for="{i}">' in html for i in ids), [i for i in ids if f'for="{i}"' not in html]
    assert "In effect: Asia/Kolkata, the region&#39;s default" in html


def test_a_manager_gets_a_403_page_and_no_link(clean_app, page_team):
    admin, manager = page_team[:2]
    browser = signed_in(clean_app, manager)
    response = browser.get("/settings")
    assert response.status_code == 403 and "Only an admin can see and change" in page_text(response)
    assert "/settings" not in page_text(browser.get("/review"))
    before = saved(admin)
    for path in POSTS:
        response = post(browser, path, retention_days="90", name="Taken Over", key_name="Mine")
        assert response.status_code == 403, path
    assert saved(admin) == before


def test_a_form_without_its_csrf_token_is_refused(admin_browser):
    admin, browser = admin_browser
    before = saved(admin)
    for path in POSTS:
        response = browser.post(path, data={"retention_days": "90", "name": "Forged", "key_name": "Forged"})
        assert response.status_code == 400 and "This form has expired" in page_text(response), path
    assert saved(admin) == before
    assert admin.get("/api/v1/api-keys").json["items"] == []


# --- organisation -----------------------------------------------------------------------

def test_the_organisation_saves_and_its_zone_reverts_to_the_regions_default(admin_browser):
    admin, browser = admin_browser
    done = post(browser, "/settings/organization", name="Rao Traders", region="IN", timezone="Europe/Paris")
    assert (done.status_code, done.headers["Location"]) == (302, "/settings?saved=organization#organization")
    assert (saved(admin)["name"], saved(admin)["timezone"]) == ("Rao Traders", "Europe/Paris")
    page = page_text(browser.get(done.headers["Location"]))
    assert "The organisation is saved." in page and "Saved." in page
    assert "In effect: Europe/Paris, chosen by an admin. The region&#39;s default is Asia/Kolkata." in page
    assert '<option value="Europe/Paris" selected>' in page and "Times in Europe/Paris" in page

    assert post(browser, "/settings/organization", name="Rao Traders", region="GB", timezone="").status_code == 302
    assert (saved(admin)["region"], saved(admin)["timezone"]) == ("GB", "Europe/London")
    page = page_text(browser.get("/settings"))
    assert "In effect: Europe/London, the region&#39;s default" in page
    assert '<option value="" selected>The region\'s default (Europe/London)</option>' in page


def test_bad_organisation_input_is_a_message_beside_the_field(admin_browser):
    admin, browser = admin_browser
    before = saved(admin)
    response = post(browser, "/settings/organization", name=" ", region="XX", timezone="Mars/Olympus")
    assert response.status_code == 422
    assert error_of(response, "organization-name") == "Enter the organisation&#39;s name (up to 200 characters)."
    assert error_of(response, "organization-region").startswith("Choose a region")
    assert error_of(response, "organization-timezone").startswith("Choose a time zone")
    assert "Organisation not saved" in page_text(response)
    assert saved(admin) == before


# --- auto-lead rules ----------------------------------------------------------------------

def test_the_auto_lead_rules_save_with_their_office_hours(admin_browser):
    admin, browser = admin_browser
    assert post(browser, "/settings/auto-leads", RULES).status_code == 302
    rules = saved(admin)["auto_leads"]
    assert rules == {"enabled": True, "call_types": ["incoming", "missed"], "min_duration_s": 12,
                     "skip_device_contacts": True, "repeat_caller_threshold": 2, "queue_alert_threshold": 40,
                     "business_hours": {"days": [0, 1, 2, 3, 4], "start": "09:30", "end": "18:00"},
                     "outside_office_hours": "lead"}
    html = browser.get("/settings").get_data(as_text=True)
    assert "Now: Monday–Friday, 09:30–18:00." in html
    assert 'id="auto_leads-type-missed" name="call_types" value="missed" checked' in html
    assert 'id="auto_leads-type-outgoing" name="call_types" value="outgoing">' in html
    assert 'name="min_duration_s" value="12"' in html

    off = {**RULES, "business_hours": "any", "call_types": ["outgoing"]}
    del off["enabled"], off["skip_device_contacts"]  # unticked boxes send nothing
    assert post(browser, "/settings/auto-leads", off).status_code == 302
    rules = saved(admin)["auto_leads"]
    assert (rules["enabled"], rules["skip_device_contacts"], rules["business_hours"], rules["call_types"]) == \
        (False, False, None, ["outgoing"])
    assert "Now: at any time." in page_text(browser.get("/settings"))


def test_bad_rules_are_messages_and_store_nothing(admin_browser):
    admin, browser = admin_browser
    before = saved(admin)
    for change, field, says in (({"min_duration_s": "abc"}, "auto_leads-min_duration_s", "Enter whole seconds"),
                                ({"min_duration_s": "5000"}, "auto_leads-min_duration_s", "from 0 to 3600"),
                                ({"days": []}, "auto_leads-days", "Choose at least one working day."),
                                ({"start": "25:00"}, "auto_leads-start", "Use HH:MM"),
                                ({"repeat_caller_threshold": "0"}, "auto_leads-repeat_caller_threshold", "1 to 100"),
                                ({"queue_alert_threshold": ""}, "auto_leads-queue_alert_threshold", "from 1 to"),
                                ({"call_types": ["blocked"]}, "auto_leads-call_types", "Choose among")):
        response = post(browser, "/settings/auto-leads", {**RULES, **change})
        assert response.status_code == 422 and says in error_of(response, field), change
    assert saved(admin) == before


# --- tracking numbers and campaign phones ----------------------------------------------------

def tracking(browser, **fields):
    row = {"number": "+91 80 4000 1234", "source": "Newspaper ad", "valid_from": "", "valid_to": "",
           "owner_id": ""}
    return post(browser, "/settings/tracking-numbers", {**row, **fields})


def test_tracking_numbers_are_added_and_removed(admin_browser, page_team, clean_app):
    admin, browser = admin_browser
    rep = page_team[2]
    assert tracking(browser).status_code == 302
    assert tracking(browser, number="080 4000 5678", source="Website", valid_from="2026-12-01",
                    valid_to="2026-12-31", owner_id=str(rep.user_id)).status_code == 302
    rows = stored_tracking(clean_app, admin)
    assert [(r["number"], r["source"]) for r in rows] == [("+918040001234", "Newspaper ad"), ("+918040005678", "Website")]
    assert (rows[1]["valid_from"], rows[1]["valid_to"], rows[1]["owner_id"]) == ("2026-12-01", "2026-12-31", rep.user_id)
    page = page_text(browser.get("/settings"))
    assert "+91 80 4000 5678" in page and "Website" in page and "2026-12-31" in page and "Ravi Rep" in page

    stale = post(browser, "/settings/tracking-numbers/remove", index="0", number="+918040005678")
    assert stale.status_code == 302 and len(stored_tracking(clean_app, admin)) == 2  # not the row it named
    done = post(browser, "/settings/tracking-numbers/remove", index="0", number="+918040001234")
    assert done.status_code == 302
    assert [r["number"] for r in stored_tracking(clean_app, admin)] == ["+918040005678"]
    assert "The tracking number +918040001234 is removed." in page_text(browser.get("/settings"))


def test_bad_tracking_numbers_are_messages_and_store_nothing(admin_browser, make_org, make_user):
    admin, browser = admin_browser
    outsider = make_user(make_org(region="IN"), role="rep", name="Other Org Rep")
    assert tracking(browser).status_code == 302
    before = saved(admin)
    for change, field, says in (({"number": "12"}, "tracking-number", "Not a usable phone number"),
                                ({"number": ""}, "tracking-number", "Enter a phone number"),
                                ({"source": ""}, "tracking-source", "Enter a source"),
                                ({"valid_from": "yesterday"}, "tracking-valid_from", "Use a date"),
                                ({"valid_from": "2026-12-31", "valid_to": "2026-12-01"}, "tracking-valid_to",
                                 "on or after the first day"),
                                ({"owner_id": str(outsider.user_id)}, "tracking-owner_id", "No such user"),
                                ({"owner_id": "x"}, "tracking-owner_id", "Choose a teammate")):
        response = tracking(browser, **change)
        assert response.status_code == 422 and says in error_of(response, field), change
    assert saved(admin) == before


def test_a_campaign_phone_gets_a_source_and_another_organisations_phone_is_refused(admin_browser, page_team, make_org,
                                                                                   make_device):
    admin, browser = admin_browser
    ravi = page_team[2]
    outsider = make_device(make_org(region="IN"))
    assert post(browser, "/settings/campaign-devices", device_id=str(ravi.device_id), source="Diwali expo").status_code == 302
    assert saved(admin)["campaign_devices"] == {str(ravi.device_id): "Diwali expo"}
    assert "Pixel 8 of Ravi Rep" in page_text(browser.get("/settings"))
    for device_id, source, field in ((str(outsider.device_id), "Stolen", "campaign-device_id"),
                                     ("abc", "X", "campaign-device_id"),
                                     (str(ravi.device_id), "", "campaign-source")):
        response = post(browser, "/settings/campaign-devices", device_id=device_id, source=source)
        assert response.status_code == 422 and error_of(response, field), (device_id, source)
    assert saved(admin)["campaign_devices"] == {str(ravi.device_id): "Diwali expo"}
    removed = post(browser, "/settings/campaign-devices/remove", device_id=str(ravi.device_id))
    assert removed.status_code == 302 and saved(admin)["campaign_devices"] == {}
    assert "campaign source is removed." in page_text(browser.get("/settings"))


# --- retention and consent ------------------------------------------------------------------

def test_retention_saves_and_refuses_what_is_out_of_range(admin_browser):
    admin, browser = admin_browser
    assert post(browser, "/settings/retention", retention_days="90", keep_phone_contacts="true").status_code == 302
    assert (saved(admin)["retention_days"], saved(admin)["keep_phone_contacts"]) == (90, True)
    assert 'name="retention_days" value="90"' in browser.get("/settings").get_data(as_text=True)
    for days in ("29", "3651", "ninety", ""):
        response = post(browser, "/settings/retention", retention_days=days)
        assert response.status_code == 422 and "from 30 to 3650" in error_of(response, "retention-retention_days")
    assert post(browser, "/settings/retention", retention_days="3650").status_code == 302  # unticked: off
    assert (saved(admin)["retention_days"], saved(admin)["keep_phone_contacts"]) == (3650, False)


def test_the_consent_text_is_overridden_and_reverted(admin_browser, client):
    from mobile_sync.consent import DEFAULT_POLICY_TEXT, DEFAULT_POLICY_VERSION

    admin, browser = admin_browser
    policy = lambda: admin.get("/api/v1/consent/policy").json  # noqa: E731
    assert policy() == {"version": DEFAULT_POLICY_VERSION, "text": DEFAULT_POLICY_TEXT}
    assert "In effect: the default text, version " + DEFAULT_POLICY_VERSION in page_text(browser.get("/settings"))

    same_version = post(browser, "/settings/consent", consent_text="Our own words.",
                        consent_policy_version=DEFAULT_POLICY_VERSION)
    assert same_version.status_code == 422
    assert "give it a new version" in error_of(same_version, "consent-consent_policy_version")
    assert post(browser, "/settings/consent", consent_text="x" * 20_001, consent_policy_version="v2").status_code == 422
    assert policy()["version"] == DEFAULT_POLICY_VERSION

    done = post(browser, "/settings/consent", consent_text="Our own words.\r\nLine two.", consent_policy_version="2026-12-01")
    assert done.status_code == 302
    assert policy() == {"version": "2026-12-01", "text": "Our own words.\nLine two."}
    page = page_text(browser.get("/settings"))
    assert "In effect: your organisation&#39;s text, version 2026-12-01" in page and "Use the default text again" in page

    assert post(browser, "/settings/consent/revert").status_code == 302
    assert policy() == {"version": DEFAULT_POLICY_VERSION, "text": DEFAULT_POLICY_TEXT}
    assert "Use the default text again" not in page_text(browser.get("/settings"))


# --- the suppression list --------------------------------------------------------------------

def test_the_suppression_list_shows_what_is_known_and_removes_one(admin_browser, page_team, make_org):
    admin, browser = admin_browser
    ravi = page_team[2]
    spam = reject(admin, "Prize Offer", "+91 90000 11111", "spam")
    reject(admin, "Ravi's Mother", "+91 90000 22222", "personal", owner=ravi)
    outsider = make_org(region="IN")
    reject(outsider, "Their Spam", "+91 90000 33333", "spam")
    their_id = outsider.get("/api/v1/suppressions").json["items"][0]["id"]

    page = page_text(browser.get("/settings"))
    assert "Prize Offer" in page and "+91 90000 11111" in page and "everyone" in page
    assert "Ravi&#39;s Mother" in page and "Ravi Rep only" in page and "Their Spam" not in page
    assert f'href="/leads/{spam}"' in page

    other = post(browser, f"/settings/suppressions/{their_id}/remove")
    assert other.status_code == 404 and len(outsider.get("/api/v1/suppressions").json["items"]) == 1

    mine = next(i for i in admin.get("/api/v1/suppressions").json["items"] if i["reason"] == "spam")
    done = post(browser, f"/settings/suppressions/{mine['id']}/remove")
    assert (done.status_code, done.headers["Location"]) == (302, "/settings?saved=suppressions#suppressions")
    assert [i["reason"] for i in admin.get("/api/v1/suppressions").json["items"]] == ["personal"]
    page = page_text(browser.get(done.headers["Location"]))
    assert "off the suppression list" in page and "Prize Offer" not in page
    events = admin.get("/api/v1/audit").json["items"]
    assert ("suppression.remove", mine["id"]) in [(e["action"], e["object_id"]) for e in events]
    assert any(e["action"] == "suppression.list" and e["actor_user_id"] == admin.user_id for e in events)


def test_the_suppression_list_pages_by_fifty(admin_browser):
    admin, browser = admin_browser
    for n in range(51):
        reject(admin, f"Spam {n:02d}", f"+91 90000 {10000 + n}", "spam")
    first = page_text(browser.get("/settings"))
    assert "Spam 50" in first and "Spam 01" in first and "Spam 00" not in first
    assert 'href="/settings?page=2#suppressions">Older' in first
    second = page_text(browser.get("/settings?page=2"))
    assert "Spam 00" in second and "Spam 50" not in second and ">Newer<" in second
    assert browser.get("/settings?page=x").status_code == 200


# --- API keys ------------------------------------------------------------------------------

def test_a_new_api_key_is_shown_once_and_can_be_revoked(admin_browser, make_org, client):
    admin, browser = admin_browser
    outsider = make_org(region="IN")
    their_key = outsider.post("/api/v1/api-keys", json={"name": "Their PBX"}).json["id"]

    response = post(browser, "/settings/api-keys", key_name="Office PBX")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "it is shown this once" in html
    key = re.search(r'<textarea id="api_keys-new" class="secret"[^>]*>([^<]+)</textarea>', html).group(1)
    assert len(key) > 20
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/telephony/ringing", headers=headers,
                       json={"from": "+91 98765 43210", "to": "+91 80 4000 1234"}).status_code != 401
    again = browser.get("/settings").get_data(as_text=True)
    assert key not in again and "Office PBX" in again and key[:8] in again
    [listed] = admin.get("/api/v1/api-keys").json["items"]

    assert post(browser, f"/settings/api-keys/{their_key}/revoke").status_code == 404
    assert [k["id"] for k in outsider.get("/api/v1/api-keys").json["items"]] == [their_key]
    done = post(browser, f"/settings/api-keys/{listed['id']}/revoke")
    assert done.status_code == 302 and admin.get("/api/v1/api-keys").json["items"] == []
    assert client.post("/api/v1/telephony/ringing", headers=headers,
                       json={"from": "+91 98765 43210", "to": "+91 80 4000 1234"}).status_code == 401
    assert "The API key is revoked" in page_text(browser.get("/settings"))
    audited = [(e["action"], e["object_id"]) for e in admin.get("/api/v1/audit").json["items"]]
    assert ("api_key.create", listed["id"]) in audited and ("api_key.revoke", listed["id"]) in audited


def test_a_key_needs_a_name(admin_browser):
    admin, browser = admin_browser
    for name in ("", " ", "x" * 101):
        response = post(browser, "/settings/api-keys", key_name=name)
        assert response.status_code == 422 and "Enter a name" in error_of(response, "api_keys-key_name")
        assert 'id="api_keys-new"' not in response.get_data(as_text=True)
    assert admin.get("/api/v1/api-keys").json["items"] == []
