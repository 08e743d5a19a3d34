"""Logs never carry client data: a whole onboarding flow, with distinctive
personal data, is run with every logger at DEBUG and every record is searched."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from server.log_privacy import redact
from tests.api.test_invites import LINK, outbox_messages

ADMIN_NAME = "Zebedee Quartermaine"
ADMIN_EMAIL = "zebedee.quartermaine@privacy-probe.test"
ADMIN_PASSWORD = "Xylophone-Marmalade-4471"
ORG_NAME = "Quartermaine Cold Storage"
WRONG_PASSWORD = "Wrong-Marmalade-9911"
INVITEE_EMAIL = "ottoline.vanterpool@privacy-probe.test"
INVITEE_NAME = "Ottoline Vanterpool +44 7700 900123"
INVITEE_PASSWORD = "Tangerine-Harpsichord-5520"
DEVICE_MODEL = "Ottoline-Handset-Zircon"
FCM_TOKEN = "fcm-ottoline-zircon-registration"
ROTATED_FCM_TOKEN = "fcm-ottoline-zircon-rotated"

PERSONAL = [ADMIN_NAME, "Quartermaine", ADMIN_EMAIL, "zebedee.quartermaine", ADMIN_PASSWORD, ORG_NAME,
            WRONG_PASSWORD, INVITEE_EMAIL, "ottoline.vanterpool", "Vanterpool", INVITEE_PASSWORD,
            "7700 900123", "7700900123", DEVICE_MODEL, FCM_TOKEN, ROTATED_FCM_TOKEN]


class Everything(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def record_texts(record: logging.LogRecord) -> list[str]:
    """Everything a handler could print from a record."""
    texts = [record.getMessage(), str(record.msg), repr(record.args)]
    if record.exc_info:
        texts.append(logging.Formatter().formatException(record.exc_info))
    texts += [record.exc_text or "", record.stack_info or ""]
    texts += [repr(value) for value in vars(record).values()]
    return texts


@pytest.fixture
def all_logs(app, caplog):
    """Every record of every logger, at DEBUG, in our handler and in caplog.

    Running the migrations in this process (the session's `app` fixture) calls
    alembic's `fileConfig`, which disables every logger that existed then,
    ours included; they are switched back on here, or the test would pass on
    silence.
    """
    handler = Everything()
    root = logging.getLogger()
    old_level = root.level
    silenced = [logger for logger in root.manager.loggerDict.values()
                if isinstance(logger, logging.Logger) and logger.disabled]
    for logger in silenced:
        logger.disabled = False
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield handler, caplog
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for logger in silenced:
            logger.disabled = True


def test_a_full_onboarding_flow_logs_no_personal_data(client, clean_app, all_logs):
    handler, caplog = all_logs
    secrets: list[str] = []

    signup = client.post("/api/v1/signup", json={"organization": ORG_NAME, "region": "GB", "name": ADMIN_NAME,
                                                 "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert signup.status_code == 201
    secrets.append(signup.json["token"])
    # The error paths log too: a duplicate, bad JSON and unknown fields full of personal data.
    assert client.post("/api/v1/signup", json={"organization": ORG_NAME, "region": "GB", "name": ADMIN_NAME,
                                               "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).status_code == 409
    assert client.post("/api/v1/signup", data=f'{{"name": "{ADMIN_NAME}", "email": "{ADMIN_EMAIL}"',
                       content_type="application/json").status_code == 400
    assert client.post("/api/v1/signup", json={"organization": ORG_NAME, "region": "GB", "name": ADMIN_NAME,
                                               "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                               INVITEE_EMAIL: INVITEE_NAME}).status_code == 422

    assert client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": WRONG_PASSWORD}
                       ).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": INVITEE_EMAIL, "password": WRONG_PASSWORD}
                       ).status_code == 401
    login = client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert login.status_code == 200
    admin = {"Authorization": f"Bearer {login.json['token']}"}
    secrets.append(login.json["token"])

    created = client.post("/api/v1/invites", headers=admin, json={"email": INVITEE_EMAIL, "role": "rep"})
    assert created.status_code == 201 and created.json["delivery"] == "outbox"
    path, message = outbox_messages(clean_app)[-1]
    invite_token = LINK.findall(message.get_body(preferencelist=("plain",)).get_content())[0]
    secrets.append(invite_token)
    accepted = client.post("/api/v1/invites/accept", json={"token": invite_token, "name": INVITEE_NAME,
                                                           "password": INVITEE_PASSWORD})
    assert accepted.status_code == 201
    assert client.post("/api/v1/invites/accept", json={"token": invite_token, "name": INVITEE_NAME,
                                                       "password": INVITEE_PASSWORD}).status_code == 410
    rep = {"Authorization": f"Bearer {accepted.json['token']}"}
    secrets.append(accepted.json["token"])

    device = client.post("/api/v1/devices", headers=rep, json={
        "platform": "android", "model": DEVICE_MODEL, "os_version": "14", "app_version": "1.0.0",
        "fcm_token": FCM_TOKEN})
    assert device.status_code == 201
    phone = {"Authorization": f"Bearer {device.json['device_token']}"}
    secrets.append(device.json["device_token"])
    device_url = f"/api/v1/devices/{device.json['device_id']}"
    assert client.patch(device_url, headers=phone, json={"fcm_token": ROTATED_FCM_TOKEN}).status_code == 200

    version = client.get("/api/v1/consent/policy", headers=phone).json["version"]
    consent = client.put(f"{device_url}/consent", headers=phone,
                         json={"contacts": True, "call_log": True, "policy_version": version})
    assert consent.status_code == 200
    assert client.put(f"{device_url}/consent", headers=phone,
                      json={"contacts": False, "call_log": True, "policy_version": version}).status_code == 200
    assert client.get(f"{device_url}/consent", headers=admin).status_code == 200
    assert client.delete(device_url, headers=rep).status_code == 204
    assert client.get(device_url, headers=phone).status_code == 401

    records = handler.records + caplog.records
    # The capture works: the outbox delivery was logged (by file name, not address).
    assert any("e-mail (invite) written to the outbox" in r.getMessage() for r in records), \
        [r.getMessage() for r in records]
    leaks = []
    for record in records:
        for text in record_texts(record):
            for value in PERSONAL + secrets:
                if value.lower() in text.lower():
                    leaks.append(f"{record.name} {record.levelname}: {value!r} in {text[:200]!r}")
    assert not leaks, "\n".join(leaks)


def test_a_failed_smtp_delivery_logs_no_address(client, clean_app, all_logs):
    from tests.servers import free_port

    handler, _ = all_logs
    clean_app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    signup = client.post("/api/v1/signup", json={"organization": ORG_NAME, "region": "GB", "name": ADMIN_NAME,
                                                 "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    response = client.post("/api/v1/invites", headers={"Authorization": f"Bearer {signup.json['token']}"},
                           json={"email": INVITEE_EMAIL, "role": "rep"})
    assert response.json["delivery"] == "failed"
    messages = [r.getMessage() for r in handler.records]
    assert any("not delivered" in m for m in messages), messages
    assert not [m for m in messages if any(v.lower() in m.lower() for v in PERSONAL)]


def test_an_unexpected_error_is_logged_without_the_data_that_caused_it(client, clean_app, all_logs, monkeypatch):
    """A database error quoting a row must reach the log as a type and a place only."""
    import mobile_sync.accounts as accounts

    handler, _ = all_logs

    def explode(*args, **kwargs):
        raise RuntimeError(f"Key (email)=({ADMIN_EMAIL}) already exists; name {ADMIN_NAME}")

    monkeypatch.setattr(accounts, "signup", explode)
    response = client.post("/api/v1/signup", json={"organization": ORG_NAME, "region": "GB", "name": ADMIN_NAME,
                                                   "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal_error"
    assert ADMIN_EMAIL not in response.get_data(as_text=True)
    errors = [r for r in handler.records if r.levelno >= logging.ERROR]
    assert errors and "RuntimeError" in errors[0].getMessage()
    for record in handler.records:
        for text in record_texts(record):
            assert ADMIN_EMAIL not in text and ADMIN_NAME not in text


# ------------------------------------------------------------- redact, the net


@pytest.mark.parametrize("text, expected", [
    ("invite for asha.rao+crm@example.co.in failed", "invite for [email] failed"),
    ("caller +91 98765 43210 matched", "caller [number] matched"),
    ("caller 098765 43210 matched", "caller [number] matched"),
    ("caller (020) 7946 0958 matched", "caller [number] matched"),
    ("caller +1-415-555-0100 matched", "caller [number] matched"),
    ("caller 9876543210 matched", "caller [number] matched"),
    ("caller +44.7700.900.123 matched", "caller [number] matched"),
    ("Authorization: Bearer abc.DEF-123_xyz=", "Authorization: Bearer [redacted]"),
    ("fcm_token=dGhpcyBpcyBhIHRva2Vu== rotated", "fcm_token=[redacted] rotated"),
    ("token: abcdef123", "token: [redacted]"),
])
def test_redact_hides_addresses_numbers_and_tokens(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("prefix", ["csu_", "csd_", "csk_", "csi_"])
def test_redact_hides_the_services_own_tokens_wherever_they_appear(prefix):
    from mobile_sync.tokens import new_token

    token, _ = new_token(prefix)
    for text in (f"issued {token} to device 7", f"{{'token': '{token}'}}", f"link /invite#t={token}"):
        assert token not in redact(text)
        assert token[4:] not in redact(text)


@pytest.mark.parametrize("text", [
    "device 17 revoked by user 4",
    "e-mail (invite) written to the outbox as 3f2a9c.eml",
    "sync batch of 1000 calls: 998 accepted, 2 duplicates",
    "HTTP 404 on /api/v1/devices/12",
])
def test_redact_keeps_ids_counts_and_paths(text):
    assert redact(text) == text


def test_every_log_record_is_redacted_before_any_handler_sees_it(app):
    """The record factory covers args, any logger and exception text."""
    handler = Everything()
    log = logging.getLogger("some.library.not.ours")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        log.debug("user %s at %s", "asha@example.test", "+91 98765 43210")
        try:
            raise ValueError("duplicate key asha@example.test")
        except ValueError:
            log.exception("insert failed")
    finally:
        log.removeHandler(handler)
    first, second = handler.records
    assert first.getMessage() == "user [email] at [number]"
    assert "asha@example.test" not in " ".join(record_texts(second))
    assert "ValueError" in second.getMessage()
