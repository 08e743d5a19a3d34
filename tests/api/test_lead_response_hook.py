"""The leads' first responses that the reports' processing hook keeps
(`lead_responses.after_run`, handed the run's calls: the leads with its
outgoing numbers and the leads linked to its calls, worked out by the
rule's probe) equal the rule worked out from scratch after every upload:
calls of a few numbers, linked to the leads processing makes for them,
uploaded late and out of order by two reps."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from tests.api.test_reports import at, upload

NUMBERS = ("+919000012345", "+919000067890", "+919000011111")


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    return {"ravi": make_device(make_user(admin, name="Ravi")), "sita": make_device(make_user(admin, name="Sita"))}


def _kept_and_brute(app) -> list[tuple]:
    from mobile_sync.store.models import Call, Lead
    from server.extensions import db

    with app.app_context():
        session = db.session
        out = []
        for lead in session.execute(select(Lead)).scalars():
            since = lead.first_call_at or lead.created_at
            brute = session.execute(select(func.min(Call.started_at)).where(
                Call.organization_id == lead.organization_id, Call.e164 == lead.phone, Call.call_type == 2,
                Call.processed_at.is_not(None), Call.started_at >= since)).scalar() if lead.phone else None
            out.append((lead.phone, lead.first_call_at, lead.first_response_at, brute))
        db.session.rollback()
        return out


def test_first_responses_kept_by_processing_equal_the_rule(team, clock, clean_app):
    clock.set(datetime(2026, 11, 25, 6, tzinfo=timezone.utc))
    rng = random.Random(19)
    reps = (team["ravi"], team["sita"])
    responses = 0
    for _round in range(24):
        rows = [(rng.choice(NUMBERS), at(20, rng.randrange(8, 20), rng.randrange(60)),
                 rng.choice((1, 2, 2, 3)), rng.choice((0, 30))) for _ in range(rng.randint(1, 4))]
        upload(rng.choice(reps), *rows)
        for phone, first_call, kept, brute in _kept_and_brute(clean_app):
            assert kept == brute, (phone, first_call, kept, brute)
            responses += kept is not None
    assert responses  # the runs did find responses


def test_first_responses_follow_the_rule_when_a_number_is_shared_or_merged(make_org, make_user, make_device, clock,
                                                                          clean_app):
    """A lead typed in with a contact's number (the rep's calls link to the
    contact; the lead's response is still the first outgoing call with its
    number), and a lead merged into another (its number goes with it) whose
    number a new lead then takes: after every upload, each lead's kept
    response equals the rule worked out from scratch."""
    clock.set(datetime(2026, 11, 25, 6, tzinfo=timezone.utc))
    admin = make_org(region="IN")
    rep = make_device(make_user(admin, name="Ravi"))
    shared, first, second = "+919000022222", "+919000033333", "+919000044444"
    assert admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [shared]}).status_code == 201
    assert admin.post("/api/v1/leads", json={"name": "Asha (lead)", "phone": shared}).status_code == 201
    kept = admin.post("/api/v1/leads", json={"name": "Kiran", "phone": first}).json["id"]
    merged = admin.post("/api/v1/leads", json={"name": "Kiran (again)", "phone": second}).json["id"]
    clock.set(datetime(2026, 11, 29, 6, tzinfo=timezone.utc))  # the calls: after the leads were typed in
    upload(rep, (shared, at(26, 9), 1, 30), (first, at(26, 9, 5), 3, 0), (second, at(26, 9, 10), 1, 30))
    assert admin.post(f"/api/v1/leads/{merged}/merge", json={"into_type": "lead", "into_id": kept}).status_code == 200
    assert admin.post("/api/v1/leads", json={"name": "New owner", "phone": second}).status_code == 201
    rows = [(shared, at(27, 11), 2, 40), (second, at(27, 12), 2, 20), (first, at(27, 13), 1, 0),
            (second, at(26, 8), 2, 15), (shared, at(26, 10), 2, 0), (first, at(27, 14), 2, 25)]
    responded = set()
    for row in rows:
        upload(rep, row)
        for phone, first_call, kept_at, brute in _kept_and_brute(clean_app):
            assert kept_at == brute, (phone, first_call, kept_at, brute)
            if kept_at is not None:
                responded.add(phone)
    assert {shared, first} <= responded  # (the new owner of the merged number: typed in after its calls)
