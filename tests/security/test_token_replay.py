"""Replaying a credential after it was revoked, used or replaced: a disabled
user's token (also after the user is enabled again), a revoked phone's token
(also after the phone registers again), a deleted API key, an invite link
after it was accepted or withdrawn, and a page's session cookie after signing
out. Every route refusing a revoked token is checked in test_route_walk.py;
here each credential is replayed exactly as it was sent while it worked."""
from __future__ import annotations

import pytest

from tests.api.test_invites import LINK, outbox_messages
from tests.conftest import PASSWORD
from tests.security.tenants import build_org
from tests.web.conftest import csrf_of, sign_in


@pytest.fixture
def org(client, make_org, make_user, make_device):
    return build_org(client, make_org, make_user, make_device, "Replayed Org")


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_disabled_users_tokens_stay_dead_when_the_user_is_enabled_again(client, org):
    rep = org.rep
    assert client.get("/api/v1/me", headers=_bearer(rep.token)).status_code == 200
    assert org.admin.patch(f"/api/v1/users/{rep.user_id}", json={"disabled": True}).status_code == 200
    assert org.admin.patch(f"/api/v1/users/{rep.user_id}", json={"disabled": False}).status_code == 200
    for token in (rep.token, rep.device_token):
        assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 401
        assert client.get("/api/v1/leads", headers=_bearer(token)).status_code == 401
    fresh = client.post("/api/v1/auth/login", json={"email": rep.email, "password": PASSWORD})
    assert fresh.status_code == 200
    assert client.get("/api/v1/me", headers=_bearer(fresh.json["token"])).status_code == 200


def test_a_revoked_phones_token_stays_dead_after_the_phone_registers_again(client, org, make_device):
    rep = org.rep
    old_device, old_token = rep.device_id, rep.device_token
    assert rep.delete(f"/api/v1/devices/{old_device}", device=True).status_code == 204
    make_device(rep)  # the same phone, registered again: a new device and token
    assert rep.device_token != old_token
    assert client.get("/api/v1/sync/state", headers=_bearer(rep.device_token)).status_code == 200
    for path in ("/api/v1/sync/state", f"/api/v1/devices/{old_device}", f"/api/v1/devices/{rep.device_id}"):
        assert client.get(path, headers=_bearer(old_token)).status_code == 401, path
    response = client.post("/api/v1/sync/calls", headers=_bearer(old_token), json={"batch_id": "replay", "calls": []})
    assert response.status_code == 401


def test_a_deleted_api_key_stays_dead(client, org):
    hook = {"from": "+91 98765 43210", "to": "+91 98765 00000"}
    assert client.post("/api/v1/telephony/ringing", headers=_bearer(org.api_key), json=hook).status_code == 202
    key_id = org.admin.get("/api/v1/api-keys").json["items"][0]["id"]
    assert org.admin.delete(f"/api/v1/api-keys/{key_id}").status_code == 204
    assert client.post("/api/v1/telephony/ringing", headers=_bearer(org.api_key), json=hook).status_code == 401
    # Deleting it again changes nothing and does not bring it back.
    assert org.admin.delete(f"/api/v1/api-keys/{key_id}").status_code in (204, 404)
    assert client.post("/api/v1/telephony/ringing", headers=_bearer(org.api_key), json=hook).status_code == 401


def _invite_token(clean_app) -> str:
    """The one-time token of the last invite e-mailed (written to the outbox without SMTP)."""
    _, message = outbox_messages(clean_app)[-1]
    return LINK.search(message.get_body(preferencelist=("plain",)).get_content()).group(1)


def test_an_invite_link_works_once_and_not_after_it_is_withdrawn(client, clean_app, org):
    assert org.admin.post("/api/v1/invites", json={"email": "new.rep@example.test", "role": "rep"}).status_code == 201
    token = _invite_token(clean_app)
    accept = {"token": token, "name": "New Rep", "password": PASSWORD}
    assert client.post("/api/v1/invites/accept", json=accept).status_code == 201
    replayed = client.post("/api/v1/invites/accept", json={**accept, "password": "another password entirely"})
    assert replayed.status_code in (404, 409, 410), replayed.json
    assert client.post("/api/v1/auth/login", json={"email": "new.rep@example.test",
                                                   "password": "another password entirely"}).status_code == 401

    created = org.admin.post("/api/v1/invites", json={"email": "late@example.test", "role": "admin"})
    token = _invite_token(clean_app)
    assert org.admin.delete(f"/api/v1/invites/{created.json['invite_id']}").status_code == 204
    response = client.post("/api/v1/invites/accept", json={"token": token, "name": "Late", "password": PASSWORD})
    assert response.status_code in (404, 410), response.json


def test_a_page_session_cookie_is_dead_after_signing_out(clean_app, org):
    browser = clean_app.test_client()
    assert sign_in(browser, org.manager.email).status_code == 302
    assert browser.get("/review").status_code == 200
    cookie = browser.get_cookie("session")
    assert cookie is not None
    saved = cookie.value
    assert browser.post("/logout", data={"csrf_token": csrf_of(browser, "/review")}).status_code == 302
    assert browser.get("/review").status_code == 302

    thief = clean_app.test_client()
    thief.set_cookie("session", saved)
    response = thief.get("/review")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login"), \
        "a session cookie copied before signing out still opens the pages"
