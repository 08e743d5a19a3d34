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


# ------------------------------------------------------ the call-data paths

CUSTOMER = "Philippa Oyelaran-Brackenbury"
CUSTOMER_COMPANY = "Brackenbury Hilsa Fisheries"
CUSTOMER_EMAIL = "philippa@brackenbury-hilsa.test"
CUSTOMER_PHONE, CUSTOMER_DIGITS, CUSTOMER_E164 = "+91 98123 45678", "9812345678", "+919812345678"
CUSTOMER_NOTE = "Wants twelve crates of smoked hilsa by Diwali"
AUNTIE = "Marguerite Fenwick-Olusola"          # the rep's phone book only
AUNTIE_PHONE, AUNTIE_DIGITS = "097000 11122", "9700011122"
CALLER = "Cornelius Wigglesworth"               # an unknown caller: a lead from his cached name
CALLER_PHONE, CALLER_DIGITS = "+91 96111 22233", "9611122233"
BAD_ROW_NAME = "Ignatius Pemberton-Vale"        # in a row the upload rejects
IMPORTED = "Octavia Rosenquist-Abara"           # from the CSV file
IMPORTED_EMAIL = "octavia@rosenquist.test"
IMPORTED_PHONE, IMPORTED_DIGITS = "+91 93456 78901", "9345678901"
BAD_LINE_NAME = "Bartholomew Quigley-Nakamura"  # on a CSV line the import rejects
FCM_DEVICE_TOKEN = "fcm-wigglesworth-handset-token"

CALL_DATA = [CUSTOMER, "Oyelaran", "Brackenbury", CUSTOMER_COMPANY, CUSTOMER_EMAIL, CUSTOMER_PHONE, CUSTOMER_DIGITS,
             "98123 45678", "smoked hilsa", AUNTIE, "Fenwick", "Olusola", AUNTIE_DIGITS, "70001 1122", CALLER,
             "Wigglesworth", CALLER_DIGITS, "96111 22233", BAD_ROW_NAME, "Pemberton", IMPORTED, "Rosenquist",
             IMPORTED_EMAIL, IMPORTED_DIGITS, "93456 78901", BAD_LINE_NAME, "Quigley", FCM_DEVICE_TOKEN]


def leaks_in(records, values) -> list[str]:
    leaks = []
    for record in records:
        for text in record_texts(record):
            for value in values:
                if value.lower() in text.lower():
                    leaks.append(f"{record.name} {record.levelname}: {value!r} in {text[:200]!r}")
    return leaks


def test_the_call_data_paths_log_no_personal_data(make_org, make_user, make_device, clean_app, fcm, all_logs):
    """Upload calls and a phone book, caller ID, ringing (the phone's and a
    PBX's) with pushes through firebase-admin to a fake FCM, a dead token,
    a CSV import, the export and both kinds of erasure: every record of
    every logger, at DEBUG, holds none of the names, companies, addresses,
    numbers or notes that went through."""
    from tests.api.contact_requests import csv_body, import_csv
    from tests.phone_data import call_row, contact_row

    handler, caplog = all_logs
    admin = make_org(region="IN")
    rep = make_device(make_user(admin, name="Ravi"), fcm_token=FCM_DEVICE_TOKEN)
    secrets = [admin.token, rep.token, rep.device_token]
    assert admin.patch("/api/v1/settings", json={"keep_phone_contacts": True}).status_code == 200

    customer = admin.post("/api/v1/contacts", json={"name": CUSTOMER, "company": CUSTOMER_COMPANY,
                                                    "email": CUSTOMER_EMAIL, "phones": [CUSTOMER_PHONE],
                                                    "owner_id": rep.user_id})
    assert customer.status_code == 201, customer.json
    assert admin.post(f"/api/v1/records/contact/{customer.json['id']}/notes",
                      json={"text": CUSTOMER_NOTE}).status_code == 201

    book = rep.post("/api/v1/sync/contacts", device=True, json={"batch_id": "pb", "contacts": [
        contact_row(1, AUNTIE, AUNTIE_PHONE, emails=["marguerite@fenwick.test"], company="Fenwick Bakery"),
        {"contact_id": "not a number", "display_name": BAD_ROW_NAME, "phones": [{"number": CALLER_PHONE}]}]})
    assert book.status_code == 200 and book.json["rejected"], book.json
    calls = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "c1", "calls": [
        call_row(1, CUSTOMER_PHONE, name=CUSTOMER), call_row(2, AUNTIE_PHONE, name=AUNTIE),
        call_row(3, CALLER_PHONE, name=CALLER), call_row(4, CALLER_PHONE, type_=3, duration=0, name=CALLER),
        {"_id": "x", "number": CALLER_PHONE, "name": BAD_ROW_NAME, "type": 99}]})
    assert calls.status_code == 200 and calls.json["accepted"] == 4 and calls.json["rejected"], calls.json
    (lead,) = admin.get("/api/v1/leads").json["items"]
    assert lead["name"] == CALLER

    for number in (CUSTOMER_PHONE, CALLER_PHONE, "+91 90000 00000"):
        assert rep.get("/api/v1/caller-id", query_string={"number": number}).status_code == 200
    assert rep.post("/api/v1/calls/ringing", device=True, json={"number": CUSTOMER_PHONE}).status_code == 202
    key = admin.post("/api/v1/api-keys", json={"name": "PBX"}).json["key"]
    secrets.append(key)
    hook = rep.client.post("/api/v1/telephony/ringing", headers={"Authorization": f"Bearer {key}"},
                           json={"from": CALLER_PHONE, "to": CUSTOMER_PHONE})
    assert hook.status_code == 202, hook.json
    fcm.script("UNREGISTERED")  # FCM says the phone's token is dead: the service drops it and logs that
    assert rep.post("/api/v1/calls/ringing", device=True, json={"number": CALLER_PHONE}).status_code == 202
    assert len(fcm.requests) >= 2  # the pushes went through firebase-admin

    imported = import_csv(admin, csv_body(f"{IMPORTED},Abara & Sons,{IMPORTED_EMAIL},expo,{IMPORTED_PHONE}",
                                          f"{BAD_LINE_NAME},,not-an-address,,{CALLER_DIGITS}",
                                          f"{BAD_LINE_NAME} Junior,,,,12345"))
    assert imported.status_code == 200 and imported.json["imported"] == 1 and imported.json["failed"] == 2
    assert admin.get("/api/v1/export").status_code == 200

    assert admin.post("/api/v1/erasure", json={"phone": CALLER_PHONE}).status_code == 200
    assert admin.post("/api/v1/erasure", json={"record_type": "contact",
                                               "record_id": customer.json["id"]}).status_code == 200
    assert admin.post("/api/v1/erasure", json={"phone": IMPORTED_PHONE}).status_code == 200

    records = handler.records + caplog.records
    assert len(records) > 10, [r.getMessage() for r in records]  # the capture works
    assert not (leaks := leaks_in(records, CALL_DATA + secrets)), "\n".join(leaks)


def test_a_failing_processing_run_logs_no_personal_data(make_org, make_user, make_device, clean_app, all_logs,
                                                        monkeypatch):
    """A processing run that fails on a row quoting its data: the log has the error's type, not the row."""
    import mobile_sync.process_calls as process_calls
    from tests.phone_data import call_row

    handler, _ = all_logs
    rep = make_device(make_user(make_org(region="IN"), name="Ravi"))

    def fail(*args, **kwargs):
        raise ValueError(f"cannot make a lead of {CALLER} at {CALLER_PHONE} ({CALLER_DIGITS})")

    monkeypatch.setattr(process_calls, "apply_auto_lead_rules", fail)
    response = rep.post("/api/v1/sync/calls", device=True,
                        json={"batch_id": "c", "calls": [call_row(1, CALLER_PHONE, name=CALLER)]})
    assert response.status_code == 200  # stored; processing failed after the commit and is retried later
    messages = [r.getMessage() for r in handler.records]
    assert any("ValueError" in m for m in messages), messages
    assert not (leaks := leaks_in(handler.records, CALL_DATA)), "\n".join(leaks)
