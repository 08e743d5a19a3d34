"""The admin's /integrations page (server-rendered forms): connect HubSpot
(a bad token refused on its field), see the status and the token's hint
only, change the rules, pull now, read the push log, disconnect; managers
are refused; an unknown CRM is a 404."""
from __future__ import annotations

from tests.crm.conftest import TOKEN
from tests.phone_data import call_row
from tests.web.conftest import csrf_of, sign_in


def post(client, path, data, page="/integrations"):
    return client.post(path, data={"csrf_token": csrf_of(client, page), **data})


def test_an_admin_connects_hubspot_and_manages_it_on_the_page(crm_app, make_org, make_user, make_device, client,
                                                             hubspot):
    admin = make_org(region="IN")
    sign_in(client, admin.email)
    html = client.get("/integrations").get_data(as_text=True)
    assert 'href="/integrations">Integrations</a>' in html  # the nav link, for admins
    assert "Connect HubSpot" in html and "Connect Pipedrive" in html
    refused = post(client, "/integrations/hubspot/connect", {"token": "pat-wrong-token", "call_types": ["incoming"]})
    assert refused.status_code == 422 and "refused this token" in refused.get_data(as_text=True)
    done = post(client, "/integrations/hubspot/connect", {
        "token": TOKEN, "call_types": ["incoming", "outgoing"], "min_duration_s": "5", "pull_every_h": "0",
        "push_leads": "true"})
    assert done.status_code == 302
    html = client.get("/integrations").get_data(as_text=True)
    assert "Connected (token …1234)" in html and TOKEN not in html
    # A call goes out; the log shows it.
    rep = make_device(make_user(admin))
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(1, "+91 91234 56789", duration=60)]})
    assert "1 logged" in client.get("/integrations").get_data(as_text=True)
    log = client.get("/integrations/hubspot/pushes").get_data(as_text=True)
    assert "Call #" in log and "Logged" in log
    # Rules: a bad number is refused on its field; a good one saved.
    bad = post(client, "/integrations/hubspot/rules", {"call_types": ["missed"], "min_duration_s": "-3",
                                                       "pull_every_h": "0"})
    assert bad.status_code == 422 and 'aria-invalid="true" aria-describedby="hubspot-min-error"' in \
        bad.get_data(as_text=True)
    assert post(client, "/integrations/hubspot/rules", {"call_types": ["missed"], "min_duration_s": "0",
                                                        "pull_every_h": "12"}).status_code == 302
    assert admin.get("/api/v1/integrations").json["items"][0]["pull_every_h"] == 12
    # Pull now: the fake's one person becomes a contact.
    hubspot.add_contact("+919000000001", "Dev", "Shah")
    pulled = post(client, "/integrations/hubspot/pull", {})
    assert pulled.status_code == 302
    assert [c["name"] for c in admin.get("/api/v1/contacts").json["items"]] == ["Dev Shah"]  # not the bare number
    assert post(client, "/integrations/hubspot/disconnect", {}).status_code == 302
    assert "Connect HubSpot" in client.get("/integrations").get_data(as_text=True)
    assert client.get("/integrations/hubspot/pushes").status_code == 404


def test_managers_are_refused_and_an_unknown_crm_is_not_found(crm_app, make_org, make_user, client):
    admin = make_org()
    manager = make_user(admin, role="manager")
    sign_in(client, manager.email)
    assert client.get("/integrations").status_code == 403
    assert 'href="/integrations"' not in client.get("/review").get_data(as_text=True)
    browser = crm_app.test_client()
    sign_in(browser, admin.email)
    assert post(browser, "/integrations/salesforce/connect", {"token": TOKEN}).status_code == 404
    assert browser.get("/integrations/salesforce/pushes").status_code == 404
