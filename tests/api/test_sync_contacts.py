"""Contact-list uploads: idempotent, minimised to keyed hashes by default,
deleted on request or when consent is withdrawn."""
import hashlib
import threading

import pytest

from tests.phone_data import BASE_MS, call_row, contact_row

ASHA_NUMBER = "+91 98765 43210"
ASHA_E164 = "+919876543210"


def upload(actor, contacts=(), deleted=(), batch_id="c1"):
    return actor.post("/api/v1/sync/contacts", device=True,
                      json={"batch_id": batch_id, "contacts": list(contacts), "deleted": list(deleted)})


def asha(**changes):
    row = contact_row(77, "Asha Rao", ASHA_NUMBER, "022 2345 6789", emails=["asha@example.com"],
                      company="Rao Traders")
    row.update(changes)
    return row


def known_caller(actor, number):
    """What the rep's phone shows when `number` rings: their own phone-book entry, or None."""
    response = actor.get("/api/v1/caller-id", query_string={"number": number})
    assert response.status_code == 200, response.json
    match = response.json["match"]
    return match if match and match["record_type"] == "phone_contact" else None


def phone_book(app):
    """Every stored phone-book row, as plain dicts: (contacts, numbers)."""
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import PhonebookContact, PhonebookNumber

    def rows(model):
        columns = model.__table__.columns
        return [{c.name: getattr(obj, c.key) for c in columns}
                for obj in db.session.execute(select(model).order_by(model.id)).scalars()]

    with app.app_context():
        return rows(PhonebookContact), rows(PhonebookNumber)


def everything_stored(app) -> str:
    """Every value of every row of every table, as one string to search."""
    from sqlalchemy import select

    from server.extensions import db

    with app.app_context():
        parts = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                parts.extend(repr(value) for value in row)
        return "\n".join(parts)


def set_org_settings(app, organization_id, **settings):
    from server.extensions import db
    from mobile_sync.store.models import Organization

    with app.app_context():
        org = db.session.get(Organization, organization_id)
        org.settings = {**(org.settings or {}), **settings}
        db.session.commit()


@pytest.fixture
def rep(make_org, make_user, make_device):
    return make_device(make_user(make_org(region="IN")))


def test_upload_stores_contacts_and_reports_counts(rep, clean_app):
    rows = [asha(), contact_row(78, "Ravi", "098200 12345"), contact_row(79, "No number yet")]
    response = upload(rep, rows)
    assert response.status_code == 200
    assert response.json == {"accepted": 3, "duplicates": 0, "rejected": [], "cursor": str(BASE_MS)}
    contacts, numbers = phone_book(clean_app)
    assert sorted(c["android_contact_id"] for c in contacts) == [77, 78, 79]
    assert len(numbers) == 3
    # The rep's phone now recognises these numbers, however they are written.
    assert known_caller(rep, "9876543210") is not None
    assert known_caller(rep, "+91 22 2345 6789") is not None
    assert known_caller(rep, "+919820012345") is not None
    assert known_caller(rep, "+91 99999 00000") is None


def test_same_batch_again_changes_nothing_and_counts_duplicates(rep, clean_app):
    rows = [asha(), contact_row(78, "Ravi", "098200 12345")]
    assert upload(rep, rows).json["accepted"] == 2
    before = phone_book(clean_app)
    for attempt in range(3):
        again = upload(rep, rows, batch_id=f"retry{attempt}")
        assert again.status_code == 200
        assert again.json == {"accepted": 0, "duplicates": 2, "rejected": [], "cursor": str(BASE_MS)}
    assert phone_book(clean_app) == before


def test_a_contact_repeated_within_a_batch_is_stored_once_with_its_newest_numbers(rep, clean_app):
    rows = [contact_row(5, "Old", "+91 98200 11111", updated=BASE_MS),
            contact_row(5, "New", "+91 98200 22222", updated=BASE_MS + 1000)]
    response = upload(rep, rows)
    assert (response.json["accepted"], response.json["duplicates"]) == (1, 1)
    contacts, numbers = phone_book(clean_app)
    assert [c["last_updated_ms"] for c in contacts] == [BASE_MS + 1000] and len(numbers) == 1
    assert known_caller(rep, "+919820022222") is not None
    assert known_caller(rep, "+919820011111") is None


def test_bad_rows_are_reported_by_index_and_the_rest_kept(rep, clean_app):
    rows = [asha(), {"contact_id": "x", "last_updated": BASE_MS}, {"contact_id": 3}, "not a row",
            contact_row(4, "Ok", "+91 98200 44444"), contact_row(6, "Bad phone", *["+91 98200 55555"] * 51)]
    response = upload(rep, rows)
    assert response.status_code == 200
    assert response.json["accepted"] == 2
    assert [r["index"] for r in response.json["rejected"]] == [1, 2, 3, 5]
    assert all(r["code"] == "invalid_row" and r["message"] for r in response.json["rejected"])
    assert sorted(c["android_contact_id"] for c in phone_book(clean_app)[0]) == [4, 77]


def test_numbers_that_are_not_matchable_are_not_kept(rep, clean_app):
    response = upload(rep, [contact_row(9, "Balance check", "*121#", "112", "nonsense", "+91 98200 99999")])
    assert response.json["accepted"] == 1
    assert len(phone_book(clean_app)[1]) == 1
    assert known_caller(rep, "+919820099999") is not None


def test_a_newer_last_updated_replaces_the_contacts_numbers(rep, clean_app):
    upload(rep, [asha()])
    changed = contact_row(77, "Asha Rao", "+91 98200 77777", updated=BASE_MS + 60_000)
    response = upload(rep, [changed], batch_id="c2")
    assert (response.json["accepted"], response.json["duplicates"]) == (1, 0)
    assert response.json["cursor"] == str(BASE_MS + 60_000)
    contacts, numbers = phone_book(clean_app)
    assert len(contacts) == 1 and len(numbers) == 1
    assert known_caller(rep, "+919820077777") is not None
    assert known_caller(rep, ASHA_NUMBER) is None and known_caller(rep, "+91 22 2345 6789") is None


def test_an_older_copy_of_a_contact_does_not_undo_a_newer_one(rep, clean_app):
    upload(rep, [contact_row(77, "Asha Rao", "+91 98200 77777", updated=BASE_MS + 60_000)])
    stale = upload(rep, [asha()], batch_id="c2")
    assert (stale.json["accepted"], stale.json["duplicates"]) == (0, 1)
    assert known_caller(rep, "+919820077777") is not None
    assert known_caller(rep, ASHA_NUMBER) is None


def test_deleted_contacts_are_removed(rep, clean_app):
    upload(rep, [asha(), contact_row(78, "Ravi", "098200 12345")])
    response = upload(rep, deleted=[{"contact_id": 77, "deleted_at": BASE_MS + 1}, {"contact_id": 999}],
                      batch_id="c2")
    assert response.status_code == 200 and response.json["rejected"] == []
    contacts, numbers = phone_book(clean_app)
    assert [c["android_contact_id"] for c in contacts] == [78] and len(numbers) == 1
    assert known_caller(rep, ASHA_NUMBER) is None
    assert known_caller(rep, "+919820012345") is not None
    # The same deletion sent again is harmless.
    assert upload(rep, deleted=[{"contact_id": 77, "deleted_at": BASE_MS + 1}], batch_id="c3").status_code == 200
    assert len(phone_book(clean_app)[0]) == 1


def test_a_deletion_older_than_the_contacts_last_update_leaves_it(rep, clean_app):
    upload(rep, [asha(last_updated=BASE_MS + 60_000)])
    upload(rep, deleted=[{"contact_id": 77, "deleted_at": BASE_MS}], batch_id="c2")
    assert known_caller(rep, ASHA_NUMBER) is not None


def test_bad_deletions_are_reported_and_the_rest_applied(rep, clean_app):
    upload(rep, [asha()])
    response = upload(rep, deleted=[{"contact_id": "x"}, {"contact_id": 77}], batch_id="c2")
    assert response.status_code == 200
    assert [(r["index"], r["code"]) for r in response.json["rejected"]] == [(0, "invalid_deletion")]
    assert phone_book(clean_app) == ([], [])


def test_by_default_only_keyed_hashes_of_numbers_are_stored(rep, clean_app):
    assert upload(rep, [asha()]).json["accepted"] == 1
    contacts, numbers = phone_book(clean_app)
    assert [(c["display_name"], c["company"], c["emails"]) for c in contacts] == [(None, None, None)]
    assert [n["e164"] for n in numbers] == [None, None]
    assert all(len(n["number_hash"]) == 64 and int(n["number_hash"], 16) >= 0 for n in numbers)
    # Keyed: not a plain hash anyone could compute from a list of numbers.
    for plain in (ASHA_E164, "919876543210", "9876543210"):
        for algorithm in ("sha256", "sha1", "md5"):
            assert hashlib.new(algorithm, plain.encode()).hexdigest() not in {n["number_hash"] for n in numbers}
    # Nowhere in the database: not the name, company, e-mail, or the number in any form.
    stored = everything_stored(clean_app)
    for secret in ("Asha", "Rao Traders", "asha@example.com", "9876543210", "98765 43210", "2223456789",
                   "2345 6789", "0r77-2C"):
        assert secret not in stored, secret
    # The phone still knows the number is a personal contact, but not whose.
    match = known_caller(rep, ASHA_NUMBER)
    assert match is not None and match["name"] is None and match["company"] is None


def test_with_keep_phone_contacts_names_companies_and_emails_are_kept(rep, clean_app):
    set_org_settings(clean_app, rep.organization_id, keep_phone_contacts=True)
    assert upload(rep, [asha()]).json["accepted"] == 1
    contacts, numbers = phone_book(clean_app)
    assert [(c["display_name"], c["company"], c["emails"]) for c in contacts] == [
        ("Asha Rao", "Rao Traders", ["asha@example.com"])]
    assert sorted(n["e164"] for n in numbers) == ["+912223456789", ASHA_E164]
    match = known_caller(rep, "098765 43210")
    assert (match["name"], match["company"]) == ("Asha Rao", "Rao Traders")


def test_the_same_number_hashes_differently_in_two_organisations(make_org, make_user, make_device, clean_app):
    first = make_device(make_user(make_org(region="IN")))
    second = make_device(make_user(make_org(region="IN")))
    upload(first, [asha(), contact_row(80, "Only in the first", "+91 98200 80808")])
    upload(second, [contact_row(5, "Someone else's Asha", ASHA_NUMBER)])
    _, numbers = phone_book(clean_app)
    by_org = {}
    for n in numbers:
        by_org.setdefault(n["organization_id"], set()).add(n["number_hash"])
    assert set(by_org) == {first.organization_id, second.organization_id}
    assert by_org[first.organization_id].isdisjoint(by_org[second.organization_id])
    assert known_caller(first, ASHA_NUMBER) is not None and known_caller(second, ASHA_NUMBER) is not None
    assert known_caller(second, "+919820080808") is None


def test_revoking_contacts_consent_deletes_that_devices_phone_book(make_org, make_user, make_device, clean_app):
    admin = make_org(region="IN")
    leaving, staying = make_device(make_user(admin)), make_device(make_user(admin))
    upload(leaving, [asha()])
    upload(staying, [contact_row(5, "Colleague's contact", "+91 98200 55555")])
    leaving.post("/api/v1/sync/calls", device=True, json={"batch_id": "calls", "calls": [call_row(1)]})
    response = leaving.put(f"/api/v1/devices/{leaving.device_id}/consent", device=True,
                           json={"contacts": False, "call_log": True, "policy_version": "2026-11-01"})
    assert response.status_code == 200
    contacts, numbers = phone_book(clean_app)
    assert {c["user_id"] for c in contacts} == {n["user_id"] for n in numbers} == {staying.user_id}
    assert known_caller(leaving, ASHA_NUMBER) is None
    assert known_caller(staying, "+919820055555") is not None
    assert leaving.get("/api/v1/sync/state", device=True).json["contacts"]["cursor"] is None
    # The call log, uploaded under its own consent, stays.
    from sqlalchemy import func, select

    from server.extensions import db
    from mobile_sync.store.models import Call

    with clean_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Call)).scalar() == 1
    refused = upload(leaving, [asha()], batch_id="c2")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "consent_required"
    assert len(phone_book(clean_app)[0]) == 1


def test_more_than_1000_contacts_is_413_and_nothing_is_stored(rep, clean_app):
    rows = [contact_row(i, f"Person {i}", f"98765 {i:05d}") for i in range(1001)]
    response = upload(rep, rows)
    assert response.status_code == 413 and response.json["error"]["code"] == "batch_too_large"
    assert "1000" in response.json["error"]["message"]
    assert phone_book(clean_app) == ([], [])
    assert upload(rep, rows[:1000]).json["accepted"] == 1000


def test_more_than_1000_deletions_is_413_and_nothing_of_the_batch_is_applied(rep, clean_app):
    upload(rep, [asha()])
    response = upload(rep, [contact_row(1, "New", "+91 98200 10101")],
                      deleted=[{"contact_id": i} for i in range(1001)], batch_id="c2")
    assert response.status_code == 413 and response.json["error"]["code"] == "batch_too_large"
    assert [c["android_contact_id"] for c in phone_book(clean_app)[0]] == [77]


def test_without_consent_uploads_are_refused_and_nothing_is_stored(make_org, make_device, clean_app):
    admin = make_device(make_org(), consent=False)
    response = upload(admin, [asha()])
    assert response.status_code == 403 and response.json["error"]["code"] == "consent_required"
    assert phone_book(clean_app) == ([], [])


def test_call_log_consent_alone_does_not_allow_contact_uploads(make_org, make_device, clean_app, client):
    admin = make_device(make_org(), consent=False)
    version = client.get("/api/v1/consent/policy").json["version"]
    admin.put(f"/api/v1/devices/{admin.device_id}/consent", device=True,
              json={"contacts": False, "call_log": True, "policy_version": version})
    response = upload(admin, [asha()])
    assert response.status_code == 403 and response.json["error"]["code"] == "consent_required"
    assert phone_book(clean_app) == ([], [])


def test_a_user_token_cannot_upload_contacts(rep, clean_app):
    response = rep.post("/api/v1/sync/contacts", json={"batch_id": "b", "contacts": [asha()]})
    assert response.status_code == 403
    assert phone_book(clean_app) == ([], [])


def _send_concurrently(app, actor, rows, copies=10):
    results = []

    def send(n):
        client = app.test_client()
        response = client.post("/api/v1/sync/contacts", headers=actor.headers(device=True),
                               json={"batch_id": f"copy{n}", "contacts": rows})
        results.append((response.status_code, response.json))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_ten_concurrent_copies_store_each_contact_once(rep, clean_app):
    rows = [contact_row(i, f"Person {i}", f"98765 {i:05d}") for i in range(200)]
    results = _send_concurrently(clean_app, rep, rows)
    assert [status for status, _ in results] == [200] * 10
    assert sum(body["accepted"] for _, body in results) == 200
    assert sum(body["duplicates"] for _, body in results) == 1800
    contacts, numbers = phone_book(clean_app)
    assert sorted(c["android_contact_id"] for c in contacts) == list(range(200))
    assert len(numbers) == 200 and len({n["number_hash"] for n in numbers}) == 200

    # Ten copies of the changed phone book replace each contact's number once.
    changed = [contact_row(i, f"Person {i}", f"98200 {i:05d}", updated=BASE_MS + 1) for i in range(200)]
    results = _send_concurrently(clean_app, rep, changed)
    assert [status for status, _ in results] == [200] * 10
    assert sum(body["accepted"] for _, body in results) == 200
    assert sum(body["duplicates"] for _, body in results) == 1800
    contacts, numbers = phone_book(clean_app)
    assert len(contacts) == 200 and len(numbers) == 200
    assert known_caller(rep, "+919820000007") is not None and known_caller(rep, "+919876500007") is None
