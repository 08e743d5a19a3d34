"""The missed calls report's per-user read (`report_reads.missed_by_user`)
names its organisation: handed another organisation's user it finds
nothing, and it finds its own users' missed calls. (The store-wide check,
tests/api/test_store_tenancy.py, wants this case in its CASES too.)"""
from __future__ import annotations

from mobile_sync.store import report_reads
from tests.api.store_tenancy_cases import EARLY, LATER
from tests.api.test_store_tenancy import two_orgs  # noqa: F401 (the fixture: two organisations with calls)


def test_the_missed_calls_read_of_one_organisation_sees_no_other(two_orgs, clean_app):  # noqa: F811
    from server.extensions import db

    a, b = two_orgs["A"], two_orgs["B"]
    with clean_app.app_context():
        session = db.session
        others = report_reads.missed_by_user(session, a["org"], EARLY.date(), LATER.date(), [b["user"]])
        everyone_of_b = report_reads.missed_by_user(session, a["org"], EARLY.date(), LATER.date())
        own = report_reads.missed_by_user(session, b["org"], EARLY.date(), LATER.date(), [b["user"]])
        session.rollback()
    assert others == []
    assert all(user_id != b["user"] for user_id, _missed, _callbacks in everyone_of_b)
    assert own and own[0][0] == b["user"] and own[0][1] > 0
