"""The minimum duration of an answered call, pinned on both sides of the
threshold (DESIGN: "answered calls shorter than min_duration_s (default 5)
are ignored"): a call of exactly `min_duration_s` makes a lead, one second
less does not. Missed calls have no duration and are not held to it."""
from __future__ import annotations

import pytest

from tests.api.test_lead_rules import UNKNOWN, leads_in, outcomes, set_settings, team, upload  # noqa: F401
from tests.phone_data import call_row

INCOMING, OUTGOING, MISSED, ANSWERED_EXTERNALLY = 1, 2, 3, 7

CASES = [
    # (call type, duration, min_duration_s setting or None for the default, outcome)
    (INCOMING, 5, None, "lead_created"),
    (INCOMING, 4, None, "skip:short_call"),
    (OUTGOING, 5, None, "lead_created"),
    (OUTGOING, 4, None, "skip:short_call"),
    (MISSED, 0, None, "lead_created"),
    (INCOMING, 10, 10, "lead_created"),
    (INCOMING, 9, 10, "skip:short_call"),
    (ANSWERED_EXTERNALLY, 10, 10, "lead_created"),
    (ANSWERED_EXTERNALLY, 9, 10, "skip:short_call"),
    (INCOMING, 0, 0, "lead_created"),
]


@pytest.mark.parametrize("call_type, duration, minimum, expected", CASES,
                         ids=[f"type{c[0]}-{c[1]}s-min{c[2] or 5}" for c in CASES])
def test_an_answered_call_makes_a_lead_from_exactly_the_minimum_duration(team, clean_app, call_type, duration,
                                                                        minimum, expected):
    admin, ravi, _ = team
    settings = {"call_types": ["incoming", "outgoing", "missed", "answered_externally"]}
    if minimum is not None:
        settings["min_duration_s"] = minimum
    set_settings(admin, auto_leads=settings)
    upload(ravi, call_row(1, UNKNOWN, type_=call_type, duration=duration))
    assert outcomes(clean_app) == [expected]
    assert len(leads_in(clean_app)) == (1 if expected == "lead_created" else 0)


def test_the_default_minimum_is_five_seconds(team, clean_app):
    """Four and five seconds in one upload, from two numbers: only the five-second call makes a lead."""
    _, ravi, _ = team
    upload(ravi, call_row(1, "+91 91234 00004", duration=4), call_row(2, "+91 91234 00005", duration=5))
    assert outcomes(clean_app) == ["skip:short_call", "lead_created"]
    assert [lead.phone for lead in leads_in(clean_app)] == ["+919123400005"]
