"""Erasing a person by number or by record: nothing of the number is left in
the database, the export, Redis or the job payloads but a salted hash, and a
later upload of it is dropped instead of bringing the person back."""
from __future__ import annotations

import io
import os
import subprocess
import zipfile
import zlib

import pytest
from sqlalchemy import func, select

from tests.api.exports import export_zip, run_cli, upload_calls, upload_phonebook
from tests.phone_data import BASE_MS, call_row, contact_row

ASHA = "+91 98765 43210"          # a customer: a contact with a second number
ASHA_E164, ASHA_DIGITS = "+919876543210", "9876543210"
ASHA_OTHER = "+91 98450 77777"
STRANGER = "+91 91234 56789"      # an unknown caller: a lead
STRANGER_E164, STRANGER_DIGITS = "+919123456789", "9123456789"
KEPT = "+91 90000 12345"          # someone else, who must stay


def occurrences(text: str, *forms: str) -> dict[str, int]:
    return {form: text.count(form) for form in forms if text.count(form)}


def database_dump(app, request) -> str:
    """Every row of every table, as SQL text: SQLite's iterdump or pg_dump."""
    from server.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            raw = db.engine.raw_connection()
            try:
                return "\n".join(raw.driver_connection.iterdump())
            finally:
                raw.close()
    server = request.getfixturevalue("postgres_server")
    dump = subprocess.run([os.path.join(server.bindir, "pg_dump"), "-h", "127.0.0.1", "-p", str(server.port),
                           "-U", "test", "callsync"], check=True, capture_output=True, text=True)
    return dump.stdout


def export_text(admin) -> str:
    with zipfile.ZipFile(io.BytesIO(export_zip(admin))) as zf:
        return "\n".join(zf.read(name).decode() for name in zf.namelist())


def count_rows(app, model, **where) -> int:
    from server.extensions import db

    with app.app_context():
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return db.session.execute(query).scalar_one()


@pytest.fixture
def world(make_org, make_user, make_device, clean_app):
    """An organisation where Asha (a contact) and a stranger (a lead) left traces everywhere."""
    admin = make_org(region="IN")
    manager = make_user(admin, "manager")
    rep = make_device(make_user(admin, name="Ravi"), push_public_key=None)
    assert admin.patch("/api/v1/settings", json={"keep_phone_contacts": True}).status_code == 200
    asha = admin.post("/api/v1/contacts", json={"name": "Asha Rao", "company": "Rao Traders",
                                                "phones": [ASHA, ASHA_OTHER], "owner_id": rep.user_id}).json
    bala = admin.post("/api/v1/contacts", json={"name": "Bala", "phones": [KEPT]}).json
    admin.post(f"/api/v1/records/contact/{asha['id']}/notes", json={"text": "Wants a quote"})
    admin.post(f"/api/v1/records/contact/{bala['id']}/notes", json={"text": "Knows Asha, call her on 098765 43210"})
    upload_phonebook(rep, contact_row(1, "Asha from Rao", "098765 43210"), contact_row(2, "Bala", KEPT))
    upload_calls(rep, call_row(1, ASHA, duration=75), call_row(2, "098765 43210", type_=3, duration=0),
                 call_row(3, STRANGER, duration=40, name="Stranger Cached"), call_row(4, KEPT, duration=30))
    assert rep.post("/api/v1/calls/ringing", device=True, json={"number": ASHA}).status_code == 202
    assert rep.post("/api/v1/calls/ringing", device=True, json={"number": STRANGER}).status_code == 202
    lead = admin.get("/api/v1/leads").json["items"][0]
    assert lead["phone"] == STRANGER_E164
    admin.post(f"/api/v1/records/lead/{lead['id']}/notes", json={"text": "Asked for the price list"})
    assert admin.post(f"/api/v1/leads/{lead['id']}/reject", json={"reason": "spam"}).status_code == 200
    return {"admin": admin, "manager": manager, "rep": rep, "asha": asha, "bala": bala, "lead": lead}


def test_erasing_a_number_leaves_nothing_of_it_anywhere(world, clean_app, request):
    admin, rep = world["admin"], world["rep"]
    before = database_dump(clean_app, request)
    assert occurrences(before, ASHA_E164, ASHA_DIGITS)  # the check can see it

    response = admin.post("/api/v1/erasure", json={"phone": "098765 43210"})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["numbers_erased"] == 1
    deleted = body["deleted"]
    assert deleted["contacts"] == 1 and deleted["calls"] == 2 and deleted["tasks"] == 1
    assert deleted["notes"] == 1 and deleted["record_phones"] == 2 and deleted["phonebook_contacts"] == 1
    assert deleted["phonebook_numbers"] == 1 and deleted["push_messages"] >= 1 and deleted["directory_changes"] >= 1
    assert deleted["leads"] == 0 and deleted["suppressions"] == 0
    assert body["redacted"] == {"notes": 1, "contacts": 1}  # Bala's note quoting it, and his last note

    dump = database_dump(clean_app, request)
    assert occurrences(dump, ASHA_E164, ASHA_DIGITS, "Asha Rao", "Asha from Rao") == {}
    assert occurrences(export_text(admin), ASHA_E164, ASHA_DIGITS, "Asha Rao") == {}
    # Everyone else is untouched.
    assert "+919000012345" in dump and STRANGER_E164 in dump and "Knows Asha, call her on [erased]" in dump
    caller = admin.get("/api/v1/caller-id", query_string={"number": KEPT}).json["match"]
    assert caller["name"] == "Bala"
    # Phones are told to drop Asha's card for her other, not erased, number.
    removed = rep.get("/api/v1/directory", device=True, query_string={"cursor": 0}).json["removed"]
    assert "+919845077777" in removed and ASHA_E164 not in removed


def test_a_later_upload_of_an_erased_number_creates_nothing(world, clean_app):
    from mobile_sync.store.models import Call, Contact, Lead, RecordPhone

    admin, rep = world["admin"], world["rep"]
    assert admin.post("/api/v1/erasure", json={"phone": ASHA}).status_code == 200
    calls_before = count_rows(clean_app, Call)
    result = upload_calls(rep, call_row(10, ASHA, duration=90), call_row(11, "9876543210", type_=3),
                          batch="after")
    assert result["accepted"] == 0
    assert [r["code"] for r in result["rejected"]] == ["erased_number", "erased_number"]
    assert count_rows(clean_app, Call) == calls_before
    assert count_rows(clean_app, Lead, phone=ASHA_E164) == 0 and count_rows(clean_app, RecordPhone, e164=ASHA_E164) == 0
    assert count_rows(clean_app, Contact, name="Asha Rao") == 0
    assert admin.get("/api/v1/caller-id", query_string={"number": ASHA}).json["match"] is None


def test_erasing_a_leads_number_removes_the_lead_its_suppression_and_its_pushes(world, clean_app, request):
    from mobile_sync.store.models import ErasedNumber, PushMessage, Suppression

    admin, rep = world["admin"], world["rep"]
    pushes_before = count_rows(clean_app, PushMessage)
    body = admin.post("/api/v1/erasure", json={"phone": STRANGER}).json
    assert body["deleted"]["leads"] == 1 and body["deleted"]["suppressions"] == 1
    assert body["deleted"]["calls"] == 1 and body["deleted"]["notes"] == 1
    assert body["deleted"]["push_messages"] == 2  # the new-lead push and the ringing push
    assert count_rows(clean_app, PushMessage) == pushes_before - 2
    assert count_rows(clean_app, Suppression) == 0 and count_rows(clean_app, ErasedNumber) == 1
    dump = database_dump(clean_app, request)
    assert occurrences(dump, STRANGER_E164, STRANGER_DIGITS, "Stranger Cached", "price list") == {}
    assert admin.get("/api/v1/leads").json["items"] == []
    again = upload_calls(rep, call_row(20, STRANGER, duration=40), batch="again")
    assert again["rejected"][0]["code"] == "erased_number" and admin.get("/api/v1/leads").json["items"] == []


def test_erasing_a_record_erases_it_and_every_number_it_held(world, clean_app, request):
    admin, rep = world["admin"], world["rep"]
    body = admin.post("/api/v1/erasure", json={"record_type": "contact", "record_id": world["asha"]["id"]}).json
    assert body["numbers_erased"] == 2 and body["deleted"]["contacts"] == 1
    dump = database_dump(clean_app, request)
    assert occurrences(dump, ASHA_E164, ASHA_DIGITS, "+919845077777", "9845077777", "Asha Rao") == {}
    result = upload_calls(rep, call_row(30, ASHA_OTHER, duration=60), batch="other")
    assert result["rejected"][0]["code"] == "erased_number"
    assert admin.post("/api/v1/erasure", json={"record_type": "contact",
                                               "record_id": world["asha"]["id"]}).status_code == 404


def test_erasing_a_contact_also_erases_the_leads_merged_into_it(world, clean_app, request):
    admin, rep = world["admin"], world["rep"]
    upload_calls(rep, call_row(40, "+91 93333 22222", duration=50, name="Asha Mobile"), batch="m")
    lead = next(l for l in admin.get("/api/v1/leads").json["items"] if l["phone"] == "+919333322222")
    merged = admin.post(f"/api/v1/leads/{lead['id']}/merge", json={"into_type": "contact",
                                                                    "into_id": world["asha"]["id"]})
    assert merged.status_code == 200
    body = admin.post("/api/v1/erasure", json={"record_type": "contact", "record_id": world["asha"]["id"]}).json
    assert body["numbers_erased"] == 3 and body["deleted"]["leads"] == 1
    assert occurrences(database_dump(clean_app, request), "+919333322222", "9333322222", "Asha Mobile") == {}


def test_erasure_is_for_admins_of_the_organisation_only(world, make_org, make_user):
    admin, manager, rep = world["admin"], world["manager"], world["rep"]
    asha = {"record_type": "contact", "record_id": world["asha"]["id"]}
    assert manager.post("/api/v1/erasure", json={"phone": ASHA}).status_code == 403
    assert rep.post("/api/v1/erasure", json=asha).status_code == 403
    assert rep.post("/api/v1/erasure", device=True, json=asha).json["error"]["code"] == "user_token_required"
    outsider = make_org(region="IN")
    assert outsider.post("/api/v1/erasure", json=asha).status_code == 404
    assert outsider.post("/api/v1/erasure", json={"record_type": "lead",
                                                  "record_id": world["lead"]["id"]}).status_code == 404
    assert admin.get("/api/v1/contacts/%d" % world["asha"]["id"]).status_code == 200  # still there


@pytest.mark.parametrize("body", [{}, {"phone": ASHA, "record_type": "contact", "record_id": 1},
                                  {"record_type": "contact"}, {"record_type": "user", "record_id": 1},
                                  {"phone": "123"}, {"phone": ""}, {"phone": 5}, {"phone": ASHA, "extra": 1}])
def test_bad_erasure_requests_are_422(world, body):
    response = world["admin"].post("/api/v1/erasure", json=body)
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_fields"


def test_erasures_are_in_the_access_audit_without_the_number(world, clean_app):
    admin = world["admin"]
    admin.post("/api/v1/erasure", json={"phone": ASHA})
    admin.post("/api/v1/erasure", json={"record_type": "lead", "record_id": world["lead"]["id"]})
    result = clean_app.test_cli_runner().invoke(args=["erase", "--organization", str(admin.organization_id),
                                                      "--phone", "-"], input=KEPT + "\n")
    assert result.exit_code == 0 and "erased 1 number(s)" in result.output, result.output
    events = [e for e in admin.get("/api/v1/audit").json["items"] if e["action"] == "person.erase"]
    assert sorted((e["actor_type"], e["object_type"], e["object_id"]) for e in events) == sorted([
        ("user", "phone", None), ("user", "lead", world["lead"]["id"]), ("operator", "phone", None)])
    assert all(e["count"] > 0 for e in events)
    assert ASHA_DIGITS not in str(events) and "90000" not in str(events)


def test_the_erase_command(world, clean_app, request):
    admin = world["admin"]
    usage = run_cli(clean_app, "erase", "--organization", admin.organization_id)
    assert usage.exit_code != 0
    missing = run_cli(clean_app, "erase", "--organization", admin.organization_id, "--record-type", "contact",
                      "--record-id", 999999)
    assert missing.exit_code != 0 and "No such contact" in missing.output
    result = run_cli(clean_app, "erase", "--organization", admin.organization_id, "--record-type", "contact",
                     "--record-id", world["asha"]["id"])
    assert result.exit_code == 0 and "erased 2 number(s)" in result.output and "contacts: 1" in result.output
    assert occurrences(database_dump(clean_app, request), ASHA_E164, ASHA_DIGITS) == {}


def _redis_strings(connection) -> tuple[list[bytes], list[bytes]]:
    """Every key, and every value (job payloads decompressed) in Redis."""
    keys, values = [], []
    for key in connection.scan_iter(count=1000):
        keys.append(key)
        kind = connection.type(key)
        if kind == b"string":
            values.append(connection.get(key) or b"")
        elif kind == b"hash":
            for field, value in connection.hgetall(key).items():
                values += [field, value]
                try:
                    values.append(zlib.decompress(value))  # RQ's pickled job data
                except zlib.error:
                    pass
        elif kind == b"list":
            values += connection.lrange(key, 0, -1)
        elif kind == b"set":
            values += list(connection.smembers(key))
        elif kind == b"zset":
            values += connection.zrange(key, 0, -1)
        elif kind == b"stream":
            values += [repr(entry).encode() for entry in connection.xrange(key)]
    return keys, values


def test_redis_and_job_payloads_never_hold_the_number(make_org, make_user, make_device, clean_app, redis_server):
    import redis

    from server.worker import AppWorker

    clean_app.config["REDIS_URL"] = redis_server.url
    clean_app.extensions.pop("redis_client", None)
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    try:
        admin = make_org(region="IN")
        rep = make_device(make_user(admin, name="Ravi"))
        contact = admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [ASHA]}).json
        upload_calls(rep, call_row(1, ASHA, type_=3, duration=0), call_row(2, STRANGER, duration=40))
        rep.post("/api/v1/calls/ringing", device=True, json={"number": ASHA})
        assert admin.get("/api/v1/leads").json["items"] == []  # queued in RQ, not run in process
        from rq import Queue

        keys, values = _redis_strings(connection)
        assert any(b"process_call_upload" in v for v in values)  # the queued jobs' payloads are read
        assert not any(needle in v for v in values for needle in (ASHA_DIGITS.encode(), STRANGER_DIGITS.encode(), b"Asha"))
        AppWorker.flask_app = clean_app
        queues = [Queue(name, connection=connection) for name in ("push", "default", "maintenance")]
        AppWorker(queues, connection=connection).work(burst=True)
        assert admin.get("/api/v1/leads").json["items"]  # the jobs ran

        response = admin.post("/api/v1/erasure", json={"record_type": "contact", "record_id": contact["id"]})
        assert response.status_code == 200 and response.json["numbers_erased"] == 1
        admin.post("/api/v1/erasure", json={"phone": STRANGER})
        assert sum(q.count for q in queues) == 0  # the erasure queued nothing
        keys, values = _redis_strings(connection)
        for form in (ASHA_E164, ASHA_DIGITS, STRANGER_E164, STRANGER_DIGITS):
            assert not any(form.encode() in k for k in keys), form
            assert not any(form.encode() in v for v in values), form
        assert connection.llen("audit:pending") >= 2  # the erasures' audit events, ids only
    finally:
        connection.flushdb()
        clean_app.extensions.pop("redis_client", None)



def test_an_erased_number_stays_erased_in_phone_books_and_manual_leads(world, clean_app):
    from mobile_sync.store.models import PhonebookNumber

    admin, rep = world["admin"], world["rep"]
    assert admin.post("/api/v1/erasure", json={"phone": ASHA}).status_code == 200
    before = count_rows(clean_app, PhonebookNumber)
    upload_phonebook(rep, contact_row(7, "Asha again", "098765 43210", updated=BASE_MS + 1))
    assert count_rows(clean_app, PhonebookNumber) == before  # the contact is kept, the number is not
    assert count_rows(clean_app, PhonebookNumber, e164=ASHA_E164) == 0
    response = rep.post("/api/v1/leads", json={"name": "Asha", "phone": ASHA})
    assert response.status_code == 409 and response.json["error"]["code"] == "erased_number"


def test_a_phone_book_batch_drops_only_the_erased_numbers(world, clean_app):
    from mobile_sync.store.models import PhonebookContact, PhonebookNumber

    admin, rep = world["admin"], world["rep"]
    assert admin.post("/api/v1/erasure", json={"phone": ASHA}).status_code == 200
    result = upload_phonebook(rep, contact_row(21, "Ravi", "+91 99000 11111", updated=BASE_MS + 1),
                              contact_row(22, "Asha, two numbers", "98765 43210", "+91 99000 22222",
                                          updated=BASE_MS + 1),
                              contact_row(23, "Meera", "+91 99000 33333", updated=BASE_MS + 1), batch="pb-mixed")
    assert result["accepted"] == 3
    assert count_rows(clean_app, PhonebookContact, android_contact_id=22) == 1
    assert count_rows(clean_app, PhonebookNumber, e164=ASHA_E164) == 0
    for kept in ("+919900011111", "+919900022222", "+919900033333"):  # everyone else's numbers are stored
        assert count_rows(clean_app, PhonebookNumber, e164=kept) == 1


def test_an_erased_number_cannot_be_typed_back_into_a_contact(world, clean_app):
    from mobile_sync.store.models import RecordPhone

    admin, rep = world["admin"], world["rep"]
    assert admin.post("/api/v1/erasure", json={"phone": ASHA}).status_code == 200
    response = rep.post("/api/v1/contacts", json={"name": "Asha", "phones": ["+91 90000 11111", "098765 43210"]})
    assert response.status_code == 409 and response.json["error"]["code"] == "erased_number"
    assert list(response.json["error"]["fields"]["phones"]) == ["1"]
    other = rep.post("/api/v1/contacts", json={"name": "Someone", "phones": ["+91 90000 11111"]})
    assert other.status_code == 201
    response = rep.patch(f"/api/v1/contacts/{other.json['id']}", json={"phones": ["+91 90000 11111", ASHA]})
    assert response.status_code == 409 and response.json["error"]["code"] == "erased_number"
    assert count_rows(clean_app, RecordPhone, e164=ASHA_E164) == 0
    assert rep.get(f"/api/v1/contacts/{other.json['id']}").json["phones"] == ["+919000011111"]


def test_phones_are_told_to_rebuild_their_directory_after_an_erasure(world):
    admin, rep = world["admin"], world["rep"]
    first = rep.get("/api/v1/directory", device=True).json
    assert ASHA_E164 in [c["number"] for c in first["cards"]] and first["reset"] is False
    cursor = first["cursor"]
    assert admin.post("/api/v1/erasure", json={"phone": ASHA}).status_code == 200
    after = rep.get("/api/v1/directory", device=True, query_string={"cursor": cursor}).json
    assert after["reset"] is True
    assert ASHA_E164 not in [c["number"] for c in after["cards"]]
    again = rep.get("/api/v1/directory", device=True, query_string={"cursor": after["cursor"]}).json
    assert again["reset"] is False


def test_erasure_blanks_the_number_out_of_other_records_text(make_org, clean_app, request):
    admin = make_org(region="IN")
    other = admin.post("/api/v1/contacts", json={
        "name": "Kiran (wife: 98765 43210)", "company": "Call +91 98765 43210 for Kiran Steel",
        "email": "9876543210@example.com", "phones": ["+91 90000 55555"]}).json
    response = admin.post("/api/v1/erasure", json={"phone": "098765 43210"})
    assert response.status_code == 200, response.json
    assert response.json["redacted"] == {"contacts": 1}
    kept = admin.get(f"/api/v1/contacts/{other['id']}").json
    assert kept["name"] == "Kiran (wife: [erased])"
    assert kept["company"] == "Call [erased] for Kiran Steel"
    assert kept["email"] == "[erased]@example.com"
    assert occurrences(database_dump(clean_app, request), ASHA_E164, ASHA_DIGITS, "98765 43210") == {}
