"""The admin's /webhooks page: add an endpoint (its secret shown once), edit
its events, turn it off and on, send a test, read the delivery log and
redeliver; refused to managers; another organisation's endpoint is not found."""
from __future__ import annotations

import re

import pytest

from tests.api.test_webhooks_support import Receiver
from tests.web.conftest import csrf_of, sign_in


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hooks_app(clean_app):
    clean_app.config.update(WEBHOOK_ALLOW_LOOPBACK=True, WEBHOOK_TIMEOUT_S=1.0)
    yield clean_app



def post(client, path, data, page="/webhooks"):
    return client.post(path, data={"csrf_token": csrf_of(client, page), **data})


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(make_org, hooks_app, client, receiver):
    admin = make_org()
    sign_in(client, admin.email)
    page = client.get("/webhooks")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "No endpoint yet" in html
    for event in ("lead.created", "call.logged", "erasure.completed"):
        assert f'value="{event}"' in html
    assert re.search(r'<label for="new-url">URL</label>', html) and '<legend>Events to send</legend>' in html
    created = post(client, "/webhooks", {"url": receiver.url("/ok"), "events": ["lead.created", "call.logged"]})
    html = created.get_data(as_text=True)
    assert created.status_code == 201
    secret = re.search(r"(whsec_[A-Za-z0-9+/=]+)", html).group(1)
    assert "shown this once" in html
    listed = client.get("/webhooks").get_data(as_text=True)
    assert receiver.url("/ok") in listed and secret not in listed
    endpoint_id = admin.get("/api/v1/webhooks").json["items"][0]["id"]
    assert secret not in client.get(f"/webhooks/{endpoint_id}").get_data(as_text=True)
    assert 'href="/webhooks">Webhooks</a>' in listed  # the nav link, for admins


def test_a_private_url_is_refused_beside_the_field(make_org, hooks_app, client):
    admin = make_org()
    sign_in(client, admin.email)
    response = post(client, "/webhooks", {"url": "http://169.254.169.254/latest", "events": ["lead.created"]})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="new-url-error"' in html and "link-local" in html
    assert 'value="http://169.254.169.254/latest"' in html
    assert admin.get("/api/v1/webhooks").json["items"] == []
    response = post(client, "/webhooks", {"url": "https://93.184.216.34/x"})
    assert response.status_code == 422 and 'id="new-events-error"' in response.get_data(as_text=True)


def test_edit_test_send_log_and_redeliver(make_org, hooks_app, client, receiver):
    admin = make_org()
    sign_in(client, admin.email)
    post(client, "/webhooks", {"url": receiver.url("/ok"), "events": ["lead.created"]})
    endpoint_id = admin.get("/api/v1/webhooks").json["items"][0]["id"]
    page = f"/webhooks/{endpoint_id}"
    saved = post(client, page, {"url": receiver.url("/ok"), "events": ["lead.created", "task.created"],
                                "active": "true"}, page)
    assert saved.status_code == 302
    assert admin.get(f"/api/v1{page}").json["events"] == ["lead.created", "task.created"]
    post(client, f"{page}/test", {}, page)
    html = client.get(page).get_data(as_text=True)
    assert "webhook.test" in html and "Delivered" in html and "HTTP 204" in html
    delivery_id = admin.get(f"/api/v1{page}/deliveries").json["items"][0]["id"]
    assert post(client, f"{page}/deliveries/{delivery_id}/redeliver", {}, page).status_code == 302
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["headers"]["webhook-id"] == receiver.requests[1]["headers"]["webhook-id"]
    off = post(client, page, {"url": receiver.url("/ok"), "events": ["lead.created"]}, page)
    assert off.status_code == 302 and admin.get(f"/api/v1{page}").json["active"] is False
    rotated = post(client, f"{page}/rotate-secret", {}, page).get_data(as_text=True)
    assert "whsec_" in rotated and "signs too until" in rotated
    assert post(client, f"{page}/delete", {}, page).status_code == 302
    assert admin.get(f"/api/v1{page}").status_code == 404


def test_managers_are_refused_and_other_organisations_endpoints_are_not_found(make_org, make_user, hooks_app,
                                                                                client, receiver):
    theirs = make_org()
    theirs.post("/api/v1/webhooks", json={"url": receiver.url("/ok"), "events": ["lead.created"]})
    endpoint_id = theirs.get("/api/v1/webhooks").json["items"][0]["id"]
    mine = make_org()
    manager = make_user(mine, role="manager")
    sign_in(client, manager.email)
    assert client.get("/webhooks").status_code == 403
    assert 'href="/webhooks"' not in client.get("/", follow_redirects=True).get_data(as_text=True)
    client = hooks_app.test_client()
    sign_in(client, mine.email)
    assert client.get(f"/webhooks/{endpoint_id}").status_code == 404
    assert post(client, f"/webhooks/{endpoint_id}/delete", {}).status_code == 404
    assert theirs.get(f"/api/v1/webhooks/{endpoint_id}").status_code == 200
