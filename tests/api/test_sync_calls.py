"""Call-log uploads: exactly once, per-row errors, consent, limits."""
import threading

import pytest

from tests.phone_data import call_row


def upload(actor, calls, batch_id="b1"):
    return actor.post("/api/v1/sync/calls", device=True, json={"batch_id": batch_id, "calls": calls})


def stored_calls(app):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import Call

    with app.app_context():
        return db.session.execute(select(Call).order_by(Call.id)).scalars().all()


@pytest.fixture
def rep(make_org, make_user, make_device):
    return make_device(make_user(make_org(region="IN")))


def test_upload_stores_normalised_calls_and_reports_counts(rep, clean_app):
    response = upload(rep, [call_row(1), call_row(2, "+44 20 7946 0958", countryiso="GB")])
    assert response.status_code == 200
    assert response.json["accepted"] == 2 and response.json["duplicates"] == 0 and response.json["rejected"] == []
    calls = stored_calls(clean_app)
    assert [c.e164 for c in calls] == ["+919876543210", "+442079460958"]
    assert all(c.processed_at is not None for c in calls)  # processed in process (embedded mode)


def test_same_batch_again_changes_nothing_and_counts_duplicates(rep, clean_app):
    rows = [call_row(i) for i in range(1, 6)]
    assert upload(rep, rows).json["accepted"] == 5
    for attempt in range(5):
        again = upload(rep, rows, batch_id=f"retry{attempt}")
        assert again.json == {"accepted": 0, "duplicates": 5, "rejected": [], "ignored": 0,
                              "cursor": again.json["cursor"]}
    assert len(stored_calls(clean_app)) == 5


def test_rows_repeated_across_batches_and_within_a_batch_are_duplicates(rep, clean_app):
    assert upload(rep, [call_row(1), call_row(2)]).json["accepted"] == 2
    response = upload(rep, [call_row(2), call_row(3), call_row(3)], batch_id="b2")
    assert response.json["accepted"] == 1 and response.json["duplicates"] == 2
    assert len(stored_calls(clean_app)) == 3


def test_bad_rows_are_reported_by_index_and_the_rest_kept(rep, clean_app):
    rows = [call_row(1), {"_id": "x", "date": 5, "type": 1}, call_row(3, type_=9), "not a row", call_row(4)]
    response = upload(rep, rows)
    assert response.status_code == 200
    assert response.json["accepted"] == 2
    assert [r["index"] for r in response.json["rejected"]] == [1, 2, 3]
    assert all(r["code"] == "invalid_row" and r["message"] for r in response.json["rejected"])


def test_unmatchable_numbers_are_stored_with_a_reason(rep, clean_app):
    rows = [call_row(1, "", presentation=2), call_row(2, "112"), call_row(3, "nonsense"), call_row(4, "-1")]
    assert upload(rep, rows).json["accepted"] == 4
    statuses = [(c.e164, c.number_status, c.outcome) for c in stored_calls(clean_app)]
    assert statuses == [(None, "restricted", "not_matchable:restricted"), (None, "emergency", "not_matchable:emergency"),
                        (None, "invalid", "not_matchable:invalid"), (None, "restricted", "not_matchable:restricted")]


def test_more_than_1000_rows_is_413_and_nothing_is_stored(rep, clean_app):
    response = upload(rep, [call_row(i) for i in range(1001)])
    assert response.status_code == 413 and response.json["error"]["code"] == "batch_too_large"
    assert stored_calls(clean_app) == []


def test_without_call_log_consent_uploads_are_refused(make_org, make_device, clean_app):
    admin = make_device(make_org(), consent=False)
    response = upload(admin, [call_row(1)])
    assert response.status_code == 403 and response.json["error"]["code"] == "consent_required"
    assert stored_calls(clean_app) == []


def test_a_user_token_cannot_upload(rep):
    response = rep.post("/api/v1/sync/calls", json={"batch_id": "b", "calls": [call_row(1)]})
    assert response.status_code == 403


def test_revoking_call_log_consent_deletes_that_devices_calls(rep, clean_app):
    upload(rep, [call_row(1), call_row(2)])
    response = rep.put(f"/api/v1/devices/{rep.device_id}/consent", device=True,
                       json={"contacts": True, "call_log": False, "policy_version": "2026-11-01"})
    assert response.status_code == 200
    assert stored_calls(clean_app) == []
    assert upload(rep, [call_row(3)]).status_code == 403


def test_record_limit_refuses_the_whole_batch(rep, clean_app):
    from server.extensions import db
    from mobile_sync.store.models import Organization

    with clean_app.app_context():
        org = db.session.get(Organization, rep.organization_id)
        org.settings = {"record_limit": 3, "auto_leads": {"enabled": False}}
        db.session.commit()
    assert upload(rep, [call_row(1), call_row(2)]).json["accepted"] == 2
    response = upload(rep, [call_row(3), call_row(4)], batch_id="b2")
    assert response.status_code == 403 and response.json["error"]["code"] == "record_limit_reached"
    assert len(stored_calls(clean_app)) == 2
    # Duplicates do not count against the limit.
    assert upload(rep, [call_row(1), call_row(3)], batch_id="b3").json["accepted"] == 1


def test_sync_state_reports_the_cursor(rep):
    upload(rep, [call_row(1), call_row(7)])
    state = rep.get("/api/v1/sync/state", device=True).json
    assert state["calls"]["cursor"] == str(call_row(7)["date"])
    assert state["consent"]["call_log"]["granted"] is True


def test_ten_concurrent_copies_store_each_call_once(rep, clean_app):
    rows = [call_row(i) for i in range(200)]
    results = []

    def send(n):
        client = clean_app.test_client()
        response = client.post("/api/v1/sync/calls", headers=rep.headers(device=True),
                               json={"batch_id": f"copy{n}", "calls": rows})
        results.append((response.status_code, response.json))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [200] * 10
    assert sum(body["accepted"] for _, body in results) == 200
    assert sum(body["duplicates"] for _, body in results) == 1800
    assert len(stored_calls(clean_app)) == 200


def test_calls_match_crm_contacts_and_update_last_spoken(rep, clean_app):
    from datetime import datetime, timezone

    from server.extensions import db
    from mobile_sync.store.models import Contact, RecordPhone

    with clean_app.app_context():
        contact = Contact(organization_id=rep.organization_id, name="Asha Rao")
        db.session.add(contact)
        db.session.flush()
        db.session.add(RecordPhone(organization_id=rep.organization_id, record_type="contact", record_id=contact.id,
                                   e164="+919876543210", suffix="6543210"))
        db.session.commit()
        contact_id = contact.id
    upload(rep, [call_row(1, "+91 98765 43210"), call_row(2, "98765 43210", type_=3, duration=0),
                 call_row(3, "+44 20 7946 0958")])
    calls = stored_calls(clean_app)
    assert [(c.record_type, c.record_id) for c in calls[:2]] == [("contact", contact_id), ("contact", contact_id)]
    assert (calls[2].record_type, calls[2].outcome) == ("lead", "lead_created")  # the unknown caller
    with clean_app.app_context():
        contact = db.session.get(Contact, contact_id)
        assert contact.last_spoken_at == datetime.fromtimestamp(call_row(1)["date"] / 1000, tz=timezone.utc)
        assert contact.last_call_type == 3
