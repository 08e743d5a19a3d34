"""Invites: the e-mailed one-time link, its expiry and withdrawal.

The e-mail goes through a real SMTP server (aiosmtpd) on loopback, or to the
local outbox when SMTP_URL is unset; the token is always read from the
delivered message, as the invited person would.
"""
from __future__ import annotations

import email
import re
import threading
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.servers import free_port

LINK = re.compile(r"http://testserver/invite\?token=(csi_[A-Za-z0-9_-]+)")


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox(clean_app):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    clean_app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    yield inbox
    controller.stop()


def token_in(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = LINK.findall(text)
    assert len(found) == 1, text
    return found[0]


def outbox_messages(app) -> list:
    folder = Path(app.config["OUTBOX_DIR"])
    if not folder.exists():
        return []
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [(path, email.message_from_bytes(path.read_bytes(), policy=policy.default)) for path in files]


def invite(admin, address="new.teammate@example.test", role="rep"):
    response = admin.post("/api/v1/invites", json={"email": address, "role": role})
    assert response.status_code == 201, response.json
    return response


def accept(client, token, name="New Teammate", password=PASSWORD):
    return client.post("/api/v1/invites/accept", json={"token": token, "name": name, "password": password})


def test_the_emailed_link_reaches_smtp_and_makes_a_teammate_once(client, make_org, smtp_inbox):
    admin = make_org(name="Rao Traders")
    created = invite(admin, "Asha.New@Example.test", role="manager")
    assert created.json["delivery"] == "sent"

    assert len(smtp_inbox.messages) == 1
    recipients, message = smtp_inbox.messages[0]
    assert recipients == ["asha.new@example.test"]
    assert message["To"] == "asha.new@example.test"
    assert "Rao Traders" in message["Subject"]
    token = token_in(message)

    accepted = accept(client, token, name="Asha New")
    assert accepted.status_code == 201
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {accepted.json['token']}"}).json
    assert (me["email"], me["role"], me["organization_id"], me["id"]) == (
        "asha.new@example.test", "manager", admin.organization_id, accepted.json["user_id"])
    login = client.post("/api/v1/auth/login", json={"email": "asha.new@example.test", "password": PASSWORD})
    assert login.status_code == 200

    again = accept(client, token, name="Someone Else", password="another password 1")
    assert again.status_code == 410
    assert again.json == {"error": {"code": "invite_used", "message": "This invitation has already been used."}}
    users = admin.get("/api/v1/users").json["items"]
    assert sorted(u["email"] for u in users) == sorted([admin.email, "asha.new@example.test"])


def test_an_expired_link_fails_cleanly_and_one_just_in_time_works(client, make_org, smtp_inbox, clock, clean_app):
    admin = make_org()
    hours = clean_app.config["INVITE_TTL_HOURS"]
    created = invite(admin, "late@example.test")
    assert created.json["expires_at"] == "2026-11-23T09:00:00+00:00"  # the clock's 2026-11-20 09:00 + 72 h
    late_token = token_in(smtp_inbox.messages[-1][1])
    invite(admin, "on.time@example.test")
    on_time_token = token_in(smtp_inbox.messages[-1][1])

    clock.advance(hours=hours, seconds=-1)
    assert accept(client, on_time_token).status_code == 201
    clock.advance(seconds=1)
    response = accept(client, late_token)
    assert response.status_code == 410
    assert response.json["error"]["code"] == "invite_expired"
    emails = [u["email"] for u in admin.get("/api/v1/users").json["items"]]
    assert "late@example.test" not in emails and "on.time@example.test" in emails


def test_a_withdrawn_invite_fails_and_its_address_is_forgotten(client, clean_app, make_org, smtp_inbox):
    from server.extensions import db
    from mobile_sync.store.models import Invite

    admin = make_org()
    created = invite(admin, "withdrawn@example.test")
    token = token_in(smtp_inbox.messages[-1][1])
    assert admin.delete(f"/api/v1/invites/{created.json['invite_id']}").status_code == 204

    response = accept(client, token)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "invite_not_found"
    with clean_app.app_context():
        row = db.session.execute(select(Invite).execution_options(all_organizations=True)).scalar_one()
        assert row.email is None and row.withdrawn_at is not None
        db.session.remove()
    # The address may be invited again, and that new link works.
    invite(admin, "withdrawn@example.test")
    assert accept(client, token_in(smtp_inbox.messages[-1][1])).status_code == 201


def test_withdrawing_an_accepted_invite_keeps_the_teammate(client, make_org, smtp_inbox):
    admin = make_org()
    created = invite(admin, "kept@example.test")
    accepted = accept(client, token_in(smtp_inbox.messages[-1][1]))
    assert accepted.status_code == 201
    assert admin.delete(f"/api/v1/invites/{created.json['invite_id']}").status_code == 204
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {accepted.json['token']}"})
    assert me.status_code == 200


def test_a_made_up_token_is_not_found(client):
    response = accept(client, "csi_" + "x" * 43)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "invite_not_found"


def test_inviting_ones_own_address_is_a_conflict(client, make_org, smtp_inbox):
    # An address with an account in another organisation is answered like a new one:
    # see tests/api/test_account_abuse.py.
    admin = make_org()
    response = admin.post("/api/v1/invites", json={"email": admin.email, "role": "rep"})
    assert response.status_code == 409 and response.json["error"]["code"] == "email_taken"
    assert smtp_inbox.messages == []


def test_an_address_taken_after_the_invite_fails_cleanly_and_leaves_the_invite_unused(client, make_org,
                                                                                       smtp_inbox):
    admin = make_org()
    invite(admin, "raced@example.test")
    token = token_in(smtp_inbox.messages[-1][1])
    signup = client.post("/api/v1/signup", json={"organization": "Elsewhere", "region": "GB", "name": "Raced",
                                                 "email": "raced@example.test", "password": PASSWORD})
    assert signup.status_code == 201
    response = accept(client, token)
    assert response.status_code == 409 and response.json["error"]["code"] == "email_taken"
    # Nothing was half-done: the invite is still unused (not "invite_used").
    assert accept(client, token).json["error"]["code"] == "email_taken"


def test_two_simultaneous_accepts_make_one_teammate(client, clean_app, make_org, smtp_inbox):
    admin = make_org()
    invite(admin, "twice@example.test")
    token = token_in(smtp_inbox.messages[-1][1])
    barrier, results = threading.Barrier(2), []

    def attempt(name):
        own_client = clean_app.test_client()
        barrier.wait()
        results.append(accept(own_client, token, name=name).status_code)

    threads = [threading.Thread(target=attempt, args=(f"Racer {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [201, 410]
    assert len(admin.get("/api/v1/users").json["items"]) == 2


def test_without_smtp_the_email_goes_to_the_outbox(client, clean_app, make_org):
    assert not clean_app.config.get("SMTP_URL")
    admin = make_org()
    before = len(outbox_messages(clean_app))
    created = invite(admin, "outbox.person@example.test")
    assert created.json["delivery"] == "outbox"
    messages = outbox_messages(clean_app)
    assert len(messages) == before + 1
    path, message = messages[-1]
    assert message["To"] == "outbox.person@example.test"
    assert path.stat().st_mode & 0o077 == 0  # readable by the service's user only
    assert accept(client, token_in(message)).status_code == 201


def test_an_smtp_server_that_is_down_leaves_the_invite_created_and_failed(client, clean_app, make_org):
    from server.extensions import db
    from mobile_sync.store.models import Invite

    clean_app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    admin = make_org()
    response = admin.post("/api/v1/invites", json={"email": "unlucky@example.test", "role": "rep"})
    assert response.status_code == 201
    assert response.json["delivery"] == "failed"
    with clean_app.app_context():
        row = db.session.execute(select(Invite).execution_options(all_organizations=True)).scalar_one()
        assert (row.id, row.delivery) == (response.json["invite_id"], "failed")
        db.session.remove()
    # The admin can withdraw it and invite again once mail works.
    assert admin.delete(f"/api/v1/invites/{response.json['invite_id']}").status_code == 204
