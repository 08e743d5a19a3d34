"""Secrets at rest, read from the rows themselves (DESIGN: "Passwords one-way
(scrypt or argon2); tokens and API keys stored hashed"): every bearer token,
device token, invite token and API key the service handed out is stored only
as its SHA-256, no part of it is in any column of any table, and every
password is an argon2id hash that still verifies."""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from tests.api.test_erasure import database_dump
from tests.api.test_invites import LINK, outbox_messages
from tests.conftest import PASSWORD, Actor

ADMIN_PASSWORD = "Quokka-Lantern-8812"
INVITEE_PASSWORD = "Marmot-Tambourine-3307"
WINDOW = 12  # no 12 characters of a token's random part may be stored (72 bits)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def pieces(token: str) -> list[str]:
    """Every WINDOW-long piece of the token after its 4-character type prefix."""
    secret = token[4:]
    return [secret[i:i + WINDOW] for i in range(len(secret) - WINDOW + 1)]


def every_secret_handed_out(client, clean_app, make_user, make_device) -> dict[str, list[str]]:
    """Sign up, log in, add a teammate, register a phone, make an API key,
    invite someone who accepts: {kind: [clear values]}."""
    signup = client.post("/api/v1/signup", json={"organization": "Vault Ltd", "region": "IN", "name": "Vera",
                                                 "email": "vera@vault.test", "password": ADMIN_PASSWORD})
    assert signup.status_code == 201, signup.json
    admin_headers = {"Authorization": f"Bearer {signup.json['token']}"}
    login = client.post("/api/v1/auth/login", json={"email": "vera@vault.test", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.json
    admin = Actor(client, signup.json["user_id"], signup.json["organization_id"], "vera@vault.test", "admin",
                  signup.json["token"])
    teammate = make_device(make_user(admin))
    key = client.post("/api/v1/api-keys", headers=admin_headers, json={"name": "PBX"})
    assert key.status_code == 201, key.json
    invite = client.post("/api/v1/invites", headers=admin_headers, json={"email": "ivo@vault.test", "role": "rep"})
    assert invite.status_code == 201, invite.json
    _, message = outbox_messages(clean_app)[-1]
    invite_token = LINK.findall(message.get_body(preferencelist=("plain",)).get_content())[0]
    accepted = client.post("/api/v1/invites/accept", json={"token": invite_token, "name": "Ivo",
                                                           "password": INVITEE_PASSWORD})
    assert accepted.status_code == 201, accepted.json
    return {"user": [signup.json["token"], login.json["token"], teammate.token, accepted.json["token"]],
            "device": [teammate.device_token], "api_key": [key.json["key"]], "invite": [invite_token]}


def test_tokens_and_api_keys_are_stored_only_as_hashes(client, clean_app, make_user, make_device, request):
    from server.extensions import db
    from mobile_sync.store.models import AccessToken, ApiKey, Invite

    secrets = every_secret_handed_out(client, clean_app, make_user, make_device)
    with clean_app.app_context():
        token_hashes = set(db.session.execute(select(AccessToken.token_hash)).scalars())
        key_rows = db.session.execute(select(ApiKey.key_hash, ApiKey.prefix)).all()
        invite_hashes = set(db.session.execute(select(Invite.token_hash)).scalars())
    assert token_hashes == {sha256(t) for t in secrets["user"] + secrets["device"]}
    assert [row.key_hash for row in key_rows] == [sha256(secrets["api_key"][0])]
    assert invite_hashes == {sha256(secrets["invite"][0])}
    # The key's prefix, shown to tell keys apart, is its type and a few characters only.
    assert len(key_rows[0].prefix) <= 8 and secrets["api_key"][0].startswith(key_rows[0].prefix)

    dump = database_dump(clean_app, request)
    leaks = [f"{kind}: {piece!r}" for kind, values in secrets.items() for token in values
             for piece in pieces(token) if piece in dump]
    assert not leaks, leaks
    # The check can see: a hash of each is there.
    assert all(sha256(token) in dump for values in secrets.values() for token in values)


def test_passwords_are_stored_as_argon2id_hashes(client, clean_app, make_user, make_device, request):
    from mobile_sync.passwords import verify_password
    from server.extensions import db
    from mobile_sync.store.models import User

    every_secret_handed_out(client, clean_app, make_user, make_device)
    with clean_app.app_context():
        hashes = dict(db.session.execute(select(User.email, User.password_hash)).all())
    assert len(hashes) == 3
    assert all(value.startswith("$argon2id$v=19$") for value in hashes.values()), hashes
    assert len(set(hashes.values())) == 3  # salted: even the same password twice would differ
    assert verify_password(hashes["vera@vault.test"], ADMIN_PASSWORD)
    assert verify_password(hashes["ivo@vault.test"], INVITEE_PASSWORD)
    assert not verify_password(hashes["ivo@vault.test"], ADMIN_PASSWORD)
    dump = database_dump(clean_app, request)
    for password in (ADMIN_PASSWORD, INVITEE_PASSWORD, PASSWORD):
        assert password not in dump
