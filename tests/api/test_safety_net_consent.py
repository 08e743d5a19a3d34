"""Withdrawing call-log consent on one phone deletes that phone's calls and
nothing else: not the user's other phone, not a teammate's, not another
organisation's (DESIGN: "Revocation ... deletes that device's uploads for
the scope")."""
from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.phone_data import call_row, contact_row

POLICY = "2026-11-01"


def upload(phone, *rows, batch):
    response = phone.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": list(rows)})
    assert response.status_code == 200, response.json
    assert response.json["accepted"] == len(rows)
    return response.json


def rows_per_device(app, model, **where) -> Counter:
    from server.extensions import db

    with app.app_context():
        query = select(model.device_id, func.count()).group_by(model.device_id)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return Counter(dict(db.session.execute(query).all()))


def leads_by_phone(admin) -> dict[str, list[int]]:
    """{lead's number: the users of the calls its page lists}, as a manager sees them."""
    response = admin.get("/api/v1/leads")
    assert response.status_code == 200, response.json
    leads = {}
    for lead in response.json["items"]:
        detail = admin.get(f"/api/v1/leads/{lead['id']}")
        assert detail.status_code == 200, detail.json
        leads[lead["phone"]] = sorted(call["user_id"] for call in detail.json["calls"])
    return leads


def lead_call_counts(admin) -> dict[str, int]:
    return {lead["phone"]: lead["calls_count"] for lead in admin.get("/api/v1/leads").json["items"]}


@pytest.fixture
def phones(make_org, make_user, make_device):
    """Ravi with two phones, his teammate Sita with one, and a rep of another organisation."""
    admin = make_org(region="IN")
    ravi = make_user(admin, name="Ravi")
    ravi_work = make_device(dataclasses.replace(ravi))
    ravi_spare = make_device(dataclasses.replace(ravi))
    sita = make_device(make_user(admin, name="Sita"))
    other_admin = make_org(region="IN")
    outsider = make_device(make_user(other_admin, name="Omar"))
    # Each phone calls a number of its own and one number they all call.
    upload(ravi_work, call_row(1, "+91 90000 00001"), call_row(2, "+91 95555 55555"), batch="w")
    upload(ravi_spare, call_row(1, "+91 90000 00002"), call_row(2, "+91 95555 55555"), batch="s")
    upload(sita, call_row(1, "+91 90000 00003"), call_row(2, "+91 95555 55555"), batch="t")
    upload(outsider, call_row(1, "+91 90000 00001"), call_row(2, "+91 95555 55555"), batch="o")
    for phone in (ravi_work, ravi_spare):  # the other scope must stay as it was
        assert phone.post("/api/v1/sync/contacts", device=True, json={
            "batch_id": "pb", "contacts": [contact_row(1, "Mum", "+91 98888 88888")]}).status_code == 200
    return {"admin": admin, "ravi_work": ravi_work, "ravi_spare": ravi_spare, "sita": sita,
            "other_admin": other_admin, "outsider": outsider}


def revoke_call_log(phone):
    response = phone.put(f"/api/v1/devices/{phone.device_id}/consent", device=True,
                         json={"contacts": True, "call_log": False, "policy_version": POLICY})
    assert response.status_code == 200, response.json
    return response.json


def test_revoking_call_log_consent_deletes_only_that_phones_calls(phones, clean_app):
    from mobile_sync.store.models import Call, PhonebookContact, SyncUpload

    admin, work = phones["admin"], phones["ravi_work"]
    others = [phones["ravi_spare"], phones["sita"], phones["outsider"]]
    states_before = {p.device_id: p.get("/api/v1/sync/state", device=True).json for p in others}
    uploads_before = rows_per_device(clean_app, SyncUpload, kind="calls")
    leads_before = leads_by_phone(admin)
    outsider_leads_before = leads_by_phone(phones["other_admin"])
    assert rows_per_device(clean_app, Call) == {p.device_id: 2 for p in [work, *others]}

    revoke_call_log(work)

    assert rows_per_device(clean_app, Call) == {p.device_id: 2 for p in others}
    # The other phones' uploads (the processing outbox) and cursors are theirs still.
    assert rows_per_device(clean_app, SyncUpload, kind="calls") == {
        p.device_id: uploads_before[p.device_id] for p in others}
    for phone in others:
        state = phone.get("/api/v1/sync/state", device=True).json
        assert state["calls"] == states_before[phone.device_id]["calls"]
        assert state["consent"]["call_log"]["granted"] is True
    # The revoked phone starts over; its phone book (the other scope) stays.
    state = work.get("/api/v1/sync/state", device=True).json
    assert state["calls"]["cursor"] is None and state["contacts"]["cursor"] is not None
    assert rows_per_device(clean_app, PhonebookContact) == {work.device_id: 1, phones["ravi_spare"].device_id: 1}

    # What a manager sees: the leads of the other phones' calls, with their calls.
    ravi, sita = work.user_id, phones["sita"].user_id
    after = leads_by_phone(admin)
    assert after["+919000000002"] == leads_before["+919000000002"] == [ravi]
    assert after["+919000000003"] == leads_before["+919000000003"] == [sita]
    assert leads_before["+919555555555"] == sorted([ravi, ravi, sita])
    assert after["+919555555555"] == sorted([ravi, sita])  # the spare phone's call and Sita's stay
    outsider = phones["outsider"].user_id
    assert leads_by_phone(phones["other_admin"]) == outsider_leads_before == {"+919000000001": [outsider],
                                                                              "+919555555555": [outsider]}
    # The revoked phone cannot upload; the others still can.
    assert work.post("/api/v1/sync/calls", device=True,
                     json={"batch_id": "again", "calls": [call_row(3)]}).status_code == 403
    upload(phones["ravi_spare"], call_row(3, "+91 90000 00002"), batch="s2")


def test_a_leads_call_count_drops_with_the_calls_a_withdrawal_deleted(phones):
    revoke_call_log(phones["ravi_work"])
    counts = lead_call_counts(phones["admin"])
    listed = {number: len(users) for number, users in leads_by_phone(phones["admin"]).items()}
    assert counts["+919555555555"] == listed["+919555555555"] == 2
