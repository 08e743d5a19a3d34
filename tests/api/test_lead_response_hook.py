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
