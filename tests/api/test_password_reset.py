"""A forgotten password: the e-mailed one-time link, its hour, the throttle,
and what setting a new password signs out. Also changing the password and
signing out everywhere.

E-mails are read from the outbox folder (SMTP_URL unset) or a real SMTP
server on loopback, as the person would read them; reset e-mails leave from
a background thread, so the tests wait for them.
"""
from __future__ import annotations

import re

from sqlalchemy import select

from tests.api import test_invites
from tests.api.test_invites import outbox_messages
from tests.conftest import PASSWORD
from tests.polling import wait_until

RESET_LINK = re.compile(r"http://testserver/reset-password\?token=(csr_[A-Za-z0-9_-]+)")
NEW_PASSWORD = "a brand new passphrase"
smtp_inbox = test_invites.smtp_inbox  # a real SMTP server on loopback (a fixture)
REQUESTED = {"message": "If the address has an account, a link to set a new password is on its way."}


def ask(client, address, **kw):
    return client.post("/api/v1/auth/password-reset", json={"email": address}, **kw)


def confirm(client, token, password=NEW_PASSWORD):
    return client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": password})


def login(client, address, password):
    return client.post("/api/v1/auth/login", json={"email": address, "password": password})


def mails_to(app, address, count=1):
    """The e-mails written to the outbox for `address`, once there are `count`."""
    def found():
        messages = [m for _, m in outbox_messages(app) if m["To"] == address]
        return messages if len(messages) >= count else None
    return wait_until(found, what=f"{count} e-mail(s) to {address}")


def token_in(message) -> str:
    found = RESET_LINK.findall(message.get_body(preferencelist=("plain",)).get_content())
    assert len(found) == 1
    return found[0]


def reset_token(client, app, address, count=1) -> str:
    assert ask(client, address).status_code == 202
    return token_in(mails_to(app, address, count)[-1])


def status(actor, device=False) -> int:
    return actor.get("/api/v1/me" if not device else "/api/v1/contacts", device=device).status_code


def test_the_answer_is_the_same_for_an_unknown_address_and_only_an_account_gets_mail(client, clean_app, make_org):
    admin = make_org()
    known, unknown = ask(client, admin.email), ask(client, "no.account.here@example.test")
    assert (known.status_code, known.json) == (unknown.status_code, unknown.json) == (202, REQUESTED)
    assert known.headers.get("Content-Length") == unknown.headers.get("Content-Length")
    [message] = mails_to(clean_app, admin.email)
    assert message["Subject"] == "Set a new CallSync password"
    assert not [m for _, m in outbox_messages(clean_app) if m["To"] == "no.account.here@example.test"]


def test_the_link_sets_a_password_once_and_signs_out_every_token_session_and_phone(
        client, clean_app, make_org, make_user, make_device):
    from mobile_sync.store.models import Device
    from mobile_sync.store.models.accounts import PasswordReset
    from mobile_sync.tokens import hash_token
    from server.extensions import db

    admin = make_org()
    rep = make_device(make_user(admin))
    other_login = login(client, rep.email, PASSWORD).json["token"]
    token = reset_token(client, clean_app, rep.email)
    with clean_app.app_context():  # stored hashed, never in clear
        row = db.session.execute(select(PasswordReset)).scalar_one()
        assert row.token_hash == hash_token(token) and token not in str(row.__dict__)

    assert confirm(client, token).json == {"message": "Your password is set. Sign in with it."}
    assert status(rep) == 401 and status(rep, device=True) == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {other_login}"}).status_code == 401
    with clean_app.app_context():
        assert db.session.get(Device, rep.device_id).revoked_at is not None  # the slot is free again
    assert login(client, rep.email, PASSWORD).status_code == 401
    assert login(client, rep.email, NEW_PASSWORD).status_code == 200
    assert status(admin) == 200  # a teammate is not touched

    again = confirm(client, token, "yet another passphrase")
    assert (again.status_code, again.json["error"]["code"]) == (410, "reset_used")
    assert login(client, rep.email, NEW_PASSWORD).status_code == 200
    unknown = confirm(client, "csr_not-a-token")
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "reset_not_found")


def test_a_link_works_for_an_hour_at_most(client, clean_app, make_org, clock):
    admin = make_org()
    late = reset_token(client, clean_app, admin.email, 1)
    on_time = reset_token(client, clean_app, admin.email, 2)
    assert "valid until 2026-11-20 10:00 UTC" in mails_to(clean_app, admin.email, 2)[-1].get_content()

    clock.advance(hours=1, seconds=-1)
    assert confirm(client, on_time).status_code == 200
    clock.advance(seconds=1)
    response = confirm(client, late)
    assert response.status_code in (410,)
    # Setting a password closes the other open links too, so make a fresh one to see the expiry itself.
    fresh = reset_token(client, clean_app, admin.email, 3)
    clock.advance(hours=1)
    expired = confirm(client, fresh, "one more passphrase")
    assert (expired.status_code, expired.json["error"]["code"]) == (410, "reset_expired")
    assert login(client, admin.email, NEW_PASSWORD).status_code == 200


def test_an_open_link_is_closed_by_the_password_it_did_not_set(client, clean_app, make_org):
    admin = make_org()
    first = reset_token(client, clean_app, admin.email, 1)
    second = reset_token(client, clean_app, admin.email, 2)
    assert confirm(client, second).status_code == 200
    assert confirm(client, first, "someone else's passphrase").json["error"]["code"] == "reset_used"


def test_requests_are_throttled_per_address_and_per_client_network_alike_for_unknown_addresses(
        client, clean_app, make_org):
    clean_app.config.update(LOGIN_MAX_FAILURES=2, LOGIN_MAX_FAILURES_PER_ADDRESS=5)
    admin = make_org()
    for address in (admin.email, "nobody@example.test"):
        assert [ask(client, address).status_code for _ in range(3)] == [202, 202, 429]
    refused = ask(client, admin.email)
    assert refused.json["error"]["code"] == "too_many_attempts" and int(refused.headers["Retry-After"]) > 0
    assert len(mails_to(clean_app, admin.email, 2)) == 2
    # Four counted from this network so far: one more new address, then the network is refused.
    assert ask(client, "third@example.test").status_code == 202
    assert ask(client, "fourth@example.test").status_code == 429
    elsewhere = {"REMOTE_ADDR": "198.51.100.7"}
    assert ask(client, "fourth@example.test", environ_base=elsewhere).status_code == 202
    assert ask(client, admin.email, environ_base=elsewhere).status_code == 429  # the address's own limit
    assert login(client, admin.email, PASSWORD).status_code == 200  # sign-in is not locked by requests


def test_names_cannot_inject_lines_headers_or_markup_into_emails(client, clean_app, make_org, make_user,
                                                                smtp_inbox):
    from mobile_sync.store.models import Organization, User
    from server.extensions import db

    admin = make_org()
    evil = "Eve\r\nBcc: victim@example.test\n\nClick http://evil.test/<b>now</b>\u2028Support"
    with clean_app.app_context():
        db.session.get(User, admin.user_id).name = evil
        db.session.get(Organization, admin.organization_id).name = "Acme\nSubject: hijacked"
        db.session.commit()

    assert ask(client, admin.email).status_code == 202
    assert admin.post("/api/v1/invites", json={"email": "new@example.test", "role": "rep"}).status_code == 201
    wait_until(lambda: len(smtp_inbox.messages) == 2, what="two e-mails")
    for recipients, message in smtp_inbox.messages:
        assert len(recipients) == 1 and message["Bcc"] is None
        assert [part.get_content_type() for part in message.walk()] == ["text/plain"]
        assert len(message.get_all("Subject")) == 1 and "\n" not in message["Subject"]
        body = message.get_content()
        lines = [line for line in body.splitlines() if "Eve" in line or "Acme" in line]
        assert lines and all("Bcc: victim@example.test Click http://evil.test/<b>now</b> Support" in line
                             or "Acme Subject: hijacked" in line for line in lines), body
        assert not any(line.startswith(("Bcc:", "Click", "Subject:", "Support")) for line in body.splitlines())
    invite_mail = next(m for r, m in smtp_inbox.messages if r == ["new@example.test"])
    assert invite_mail["Subject"] == ("Eve Bcc: victim@example.test Click http://evil.test/<b>now</b> Support "
                                      "invited you to Acme Subject: hijacked on CallSync")


def test_a_reset_touches_one_user_of_one_organisation(client, clean_app, make_org, make_user):
    from mobile_sync.store.models.accounts import PasswordReset
    from server.extensions import db
    from server.tenancy import set_session_organization

    first, second = make_org(), make_org()
    teammate, stranger = make_user(first, role="manager"), make_user(second, role="manager")
    assert confirm(client, reset_token(client, clean_app, teammate.email)).status_code == 200
    assert status(teammate) == 401
    assert (status(first), status(second), status(stranger)) == (200, 200, 200)
    assert login(client, stranger.email, PASSWORD).status_code == 200
    with clean_app.app_context():
        set_session_organization(db.session, second.organization_id)
        assert db.session.execute(select(PasswordReset)).scalars().all() == []  # the first one's row is not seen
        set_session_organization(db.session, first.organization_id)
        assert [r.user_id for r in db.session.execute(select(PasswordReset)).scalars()] == [teammate.user_id]
        set_session_organization(db.session, None)


def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(client, make_org, make_user,
                                                                               make_device, clean_app):
    admin = make_org()
    rep = make_device(make_user(admin))
    elsewhere = login(client, rep.email, PASSWORD).json["token"]
    wrong = rep.post("/api/v1/me/password", json={"current_password": "not it", "new_password": NEW_PASSWORD})
    assert (wrong.status_code, wrong.json["error"]["code"]) == (403, "wrong_password")
    assert "current_password" in wrong.json["error"]["fields"]
    short = rep.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and "new_password" in short.json["error"]["fields"]

    done = rep.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert done.status_code == 200
    assert status(rep) == 200 and status(rep, device=True) == 200  # this token and the phone stay
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {elsewhere}"}).status_code == 401
    assert login(client, rep.email, PASSWORD).status_code == 401
    assert login(client, rep.email, NEW_PASSWORD).status_code == 200


def test_wrong_current_passwords_are_throttled_like_logins(client, make_org, clean_app):
    clean_app.config.update(LOGIN_MAX_FAILURES=2)
    admin = make_org()
    codes = [admin.post("/api/v1/me/password", json={"current_password": "nope", "new_password": NEW_PASSWORD}
                        ).status_code for _ in range(3)]
    assert codes == [403, 403, 429]


def test_signing_out_everywhere_ends_every_token_and_phone_of_the_user_only(client, make_org, make_user,
                                                                          make_device):
    admin = make_org()
    rep = make_device(make_user(admin))
    elsewhere = login(client, rep.email, PASSWORD).json["token"]
    response = rep.post("/api/v1/auth/logout-everywhere")
    assert response.status_code == 200 and response.json == {"message": "You are signed out everywhere."}
    assert status(rep) == 401 and status(rep, device=True) == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {elsewhere}"}).status_code == 401
    assert status(admin) == 200
    assert login(client, rep.email, PASSWORD).status_code == 200  # the password stays
    assert client.post("/api/v1/auth/logout-everywhere").status_code == 401
