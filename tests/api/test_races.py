"""Privacy promises under real concurrency: consent withdrawal, erasure and
review decisions racing an upload, a processing run or each other.

Each race releases its threads together (a barrier) and is repeated
`TRIALS` times; the figure a test keeps is "0 of N trials broke the promise".
SQLite serialises every write transaction, so these tests matter most on
PostgreSQL (`scripts/test` runs them on both).
"""
from __future__ import annotations

import base64
import threading
import time

import pytest
from sqlalchemy import func, select

from tests.phone_data import call_row, contact_row

TRIALS = 20


def race(*actions):
    """Run the actions in threads released at once; return their results."""
    barrier = threading.Barrier(len(actions))
    results = [None] * len(actions)
    errors = []

    def run(index, action):
        try:
            barrier.wait()
            results[index] = action()
        except Exception as err:  # surfaced below, with the trial
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def request(app, actor, method, path, device=False, json=None, delay=0.0):
    def send():
        if delay:
            time.sleep(delay)
        response = app.test_client().open(path, method=method, headers=actor.headers(device=device), json=json)
        return response.status_code, response.get_json(silent=True)
    return send


def count(app, model, *where):
    from server.extensions import db

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_calls_uploaded_while_consent_is_withdrawn_are_never_kept(make_org, make_user, make_device, clean_app):
    from mobile_sync.store.models import Call, ConsentState, Lead

    admin = make_org(region="IN")
    kept = []
    for trial in range(TRIALS):
        rep = make_device(make_user(admin))
        calls = [call_row(i, f"+91 9{trial:02d}00 {i:05d}") for i in range(1, 201)]
        upload, withdraw = race(
            request(clean_app, rep, "POST", "/api/v1/sync/calls", device=True,
                    json={"batch_id": f"t{trial}", "calls": calls}),
            request(clean_app, rep, "PUT", f"/api/v1/devices/{rep.device_id}/consent", device=True,
                    json={"contacts": True, "call_log": False, "policy_version": "2026-11-01"},
                    delay=0.002 * (trial % 10)))
        assert withdraw[0] == 200, withdraw
        assert upload[0] in (200, 403), upload
        assert count(clean_app, ConsentState, ConsentState.device_id == rep.device_id,
                     ConsentState.scope == "call_log", ConsentState.granted.is_(True)) == 0
        if count(clean_app, Call, Call.device_id == rep.device_id):
            kept.append(trial)
    assert kept == [], f"{len(kept)} of {TRIALS} trials kept calls after consent was withdrawn"
    # Leads that existed only because of the withdrawn calls went with them.
    assert count(clean_app, Lead, Lead.organization_id == admin.organization_id) == 0


def test_a_phone_book_uploaded_while_consent_is_withdrawn_is_never_kept(make_org, make_user, make_device,
                                                                       clean_app):
    from mobile_sync.store.models import PhonebookContact

    admin = make_org(region="IN")
    kept = []
    for trial in range(TRIALS):
        rep = make_device(make_user(admin))
        book = [contact_row(i, f"Friend {i}", f"+91 9{trial:02d}11 {i:05d}") for i in range(1, 201)]
        upload, withdraw = race(
            request(clean_app, rep, "POST", "/api/v1/sync/contacts", device=True,
                    json={"batch_id": f"c{trial}", "contacts": book}),
            request(clean_app, rep, "PUT", f"/api/v1/devices/{rep.device_id}/consent", device=True,
                    json={"contacts": False, "call_log": True, "policy_version": "2026-11-01"},
                    delay=0.002 * (trial % 10)))
        assert withdraw[0] == 200 and upload[0] in (200, 403), (upload, withdraw)
        if count(clean_app, PhonebookContact, PhonebookContact.device_id == rep.device_id):
            kept.append(trial)
    assert kept == [], f"{len(kept)} of {TRIALS} trials kept a phone book after consent was withdrawn"


def test_an_erased_number_never_comes_back_from_an_upload_in_flight(make_org, make_device, clean_app):
    from mobile_sync.phones import normalize_number
    from mobile_sync.store.models import Call, Lead

    admin = make_device(make_org(region="IN"))
    back = []
    for trial in range(TRIALS):
        number = f"+91 98{trial:03d} 43210"
        e164 = normalize_number(number, "IN").e164
        calls = [call_row(trial * 1000 + i, f"+91 97{trial:03d} {i:05d}") for i in range(1, 150)]
        calls.insert(trial * 7 % 150, call_row(trial * 1000 + 999, number))
        upload, erasure = race(
            request(clean_app, admin, "POST", "/api/v1/sync/calls", device=True,
                    json={"batch_id": f"e{trial}", "calls": calls}),
            request(clean_app, admin, "POST", "/api/v1/erasure", json={"phone": number},
                    delay=0.002 * (trial % 10)))
        assert upload[0] == 200 and erasure[0] == 200, (upload, erasure)
        if count(clean_app, Call, Call.e164 == e164) or count(clean_app, Lead, Lead.phone == e164):
            back.append(trial)
    assert back == [], f"{len(back)} of {TRIALS} trials kept an erased number"


@pytest.fixture
def slow_reviewers(monkeypatch):
    """Each review decision pauses after the view read the lead, as a busy
    server would: without locks, both reviewers then decide on the same state."""
    from mobile_sync import leads

    original = leads._require_reviewer

    def slow(user):
        original(user)
        time.sleep(0.05)

    monkeypatch.setattr(leads, "_require_reviewer", slow)


def _new_lead(manager, n: int) -> int:
    response = manager.post("/api/v1/leads", json={"name": f"Lead {n}", "phone": f"+91 96{n:03d} 11111"})
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_approve_and_reject_at_once_leave_one_consistent_decision(make_org, make_user, clean_app, slow_reviewers):
    from mobile_sync.store.models import Lead, Suppression

    admin = make_org(region="IN")
    manager, other = make_user(admin, "manager"), make_user(admin, "manager")
    broken = []
    for trial in range(TRIALS):
        lead_id = _new_lead(manager, trial)
        approve, reject = race(
            request(clean_app, manager, "POST", f"/api/v1/leads/{lead_id}/approve"),
            request(clean_app, other, "POST", f"/api/v1/leads/{lead_id}/reject", json={"reason": "spam"}))
        assert {approve[0], reject[0]} <= {200, 409}, (approve, reject)
        if reject[0] == 409:
            assert reject[1]["error"]["code"] == "lead_approved"
            assert reject[1]["error"]["fields"]["current"]["status"] == "approved"
        final = manager.get(f"/api/v1/leads/{lead_id}").json
        suppressed = count(clean_app, Suppression, Suppression.lead_id == lead_id)
        consistent = (final["status"] == "approved" and final["reject_reason"] is None and not suppressed) or \
            (final["status"] == "rejected" and final["reject_reason"] == "spam" and suppressed == 1)
        if not consistent:
            broken.append((trial, final["status"], final["reject_reason"], suppressed))
    assert broken == [], f"{len(broken)} of {TRIALS} trials ended inconsistent: {broken}"
    assert count(clean_app, Lead, Lead.status == "approved", Lead.reject_reason.is_not(None)) == 0


def test_approving_a_rejected_lead_lifts_its_suppression(make_org, make_user, make_device, clean_app):
    admin = make_org(region="IN")
    manager = make_user(admin, "manager")
    rep = make_device(make_user(admin))
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "a", "calls": [call_row(1, "+91 91111 22222")]})
    (lead,) = manager.get("/api/v1/leads").json["items"]
    assert manager.post(f"/api/v1/leads/{lead['id']}/reject", json={"reason": "spam"}).status_code == 200
    assert manager.post(f"/api/v1/leads/{lead['id']}/approve").status_code == 200
    # The number is no longer suppressed: a new call from it is not skipped as spam.
    from server.extensions import db
    from mobile_sync.store.models import Call

    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b", "calls": [call_row(2, "+91 91111 22222")]})
    with clean_app.app_context():
        outcomes = [c.outcome for c in db.session.execute(select(Call).order_by(Call.id)).scalars()]
    assert "skip:spam" not in outcomes
    # An approved lead is not rejected behind the approver's back.
    response = manager.post(f"/api/v1/leads/{lead['id']}/reject", json={"reason": "spam"})
    assert response.status_code == 409 and response.json["error"]["fields"]["current"]["status"] == "approved"


def test_merges_in_both_directions_at_once_merge_once(make_org, make_user, clean_app, slow_reviewers):
    from mobile_sync.store.models import Note

    admin = make_org(region="IN")
    manager, other = make_user(admin, "manager"), make_user(admin, "manager")
    broken = []
    for trial in range(TRIALS):
        a, b = _new_lead(manager, 2 * trial), _new_lead(manager, 2 * trial + 1)
        for lead_id in (a, b):
            assert manager.post(f"/api/v1/records/lead/{lead_id}/notes",
                                json={"text": f"note on {lead_id}"}).status_code == 201
        ab, ba = race(
            request(clean_app, manager, "POST", f"/api/v1/leads/{a}/merge", json={"into_type": "lead", "into_id": b}),
            request(clean_app, other, "POST", f"/api/v1/leads/{b}/merge", json={"into_type": "lead", "into_id": a}))
        assert sorted([ab[0], ba[0]]) == [200, 409], (ab, ba)
        survivor = b if ab[0] == 200 else a
        leads = {lead_id: manager.get(f"/api/v1/leads/{lead_id}").json for lead_id in (a, b)}
        merged = [lead_id for lead_id, lead in leads.items() if lead["status"] == "merged"]
        notes_on_survivor = count(clean_app, Note, Note.record_type == "lead", Note.record_id == survivor)
        if merged != [a if survivor == b else b] or notes_on_survivor != 2 or leads[survivor]["phone"] is None:
            broken.append((trial, merged, notes_on_survivor))
    assert broken == [], f"{len(broken)} of {TRIALS} trials broke a merge: {broken}"


LOW_ORDER_KEY = base64.b64encode(bytes(32)).decode()


def test_a_key_that_cannot_be_sealed_to_is_refused_at_registration(make_org):
    admin = make_org(region="IN")
    response = admin.post("/api/v1/devices", json={"platform": "android", "fcm_token": "t",
                                                   "push_public_key": LOW_ORDER_KEY})
    assert response.status_code == 422
    assert "push_public_key" in response.json["error"]["fields"]


def test_one_device_with_a_bad_key_blocks_nobody(make_org, make_user, make_device, clean_app):
    """A phone registered before keys were probed: its pushes are recorded as
    failed, its ringing answers, and everybody's calls are processed."""
    from server.extensions import db
    from mobile_sync.store.models import Call, Device, PushMessage

    admin = make_org(region="IN")
    ravi, sita = make_device(make_user(admin)), make_device(make_user(admin))
    with clean_app.app_context():
        db.session.get(Device, ravi.device_id).push_public_key = LOW_ORDER_KEY
        db.session.commit()
    for rep in (ravi, sita):
        response = rep.post("/api/v1/sync/calls", device=True,
                            json={"batch_id": "x", "calls": [call_row(1, f"+91 9444{rep.user_id:01d} 55555")]})
        assert response.status_code == 200, response.json
    assert count(clean_app, Call, Call.processed_at.is_(None)) == 0
    ring = ravi.post("/api/v1/calls/ringing", device=True, json={"number": f"+91 9444{ravi.user_id:01d} 55555"})
    assert ring.status_code == 202, ring.json
    assert len(manager_leads := admin.get("/api/v1/leads").json["items"]) == 2, manager_leads
    failed = count(clean_app, PushMessage, PushMessage.device_id == ravi.device_id,
                   PushMessage.error == "SEAL_FAILED")
    assert failed >= 2  # the ring and the new-lead notice
