"""The rollups kept incrementally, with calls arriving and processed batch by
batch in random order (a late upload returns earlier missed calls of other
users sooner, moves gaps, adds to the team's days), then erased by number,
equal the rollups rebuilt from scratch: every user row (figures, gaps, call
backs), every organisation day and every missed-call row, in three zones
(two with DST). `REPORTS_EXAMPLES` runs more examples than the default 60."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, select

from tests.api.report_team import reps_with_phones, uploads_of

NUMBERS = ("+919876543210", "+919123456789", "+918877665544", "+918877665500", None)
BASE = datetime(2026, 10, 30, tzinfo=timezone.utc)
calls_strategy = st.lists(st.tuples(
    st.integers(0, 2), st.integers(0, 10 * 24 * 60), st.sampled_from((1, 2, 3, 3, 3, 5)),
    st.sampled_from((0, 0, 5, 60)), st.sampled_from(NUMBERS), st.integers(0, 5),
), min_size=1, max_size=50)


def _snapshot(session, org_id):
    from mobile_sync.store.models.reports import CallDay, CallMonth, MissedCallback, OrgDay
    from mobile_sync.store.packed_rows import unpack
    days = []
    for row in session.execute(select(CallDay.__table__).where(CallDay.organization_id == org_id)).mappings():
        row = dict(row)
        row["callbacks"] = sorted(unpack(row["callbacks"], "I"))
        g = row["gaps"]
        row["gaps"] = list(unpack(g, "I")) if isinstance(g, (bytes, memoryview)) else list(g or ())
        days.append(row)
    days.sort(key=lambda r: (r["user_id"], r["day"]))
    org = sorted(tuple(r) for r in session.execute(select(OrgDay.__table__).where(OrgDay.organization_id == org_id)))
    missed = sorted(tuple(r) for r in session.execute(select(MissedCallback.__table__).where(
        MissedCallback.organization_id == org_id)))
    # PostgreSQL's month rows, made from the day rows (SQLite keeps none).
    months = sorted(repr(tuple(r)) for r in session.execute(select(CallMonth.__table__).where(
        CallMonth.organization_id == org_id)))
    return days, org, missed, months


@settings(max_examples=int(os.environ.get("REPORTS_EXAMPLES", 60)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(zone=st.sampled_from(("America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")), rows=calls_strategy,
       order=st.permutations(range(6)), erase=st.sampled_from(NUMBERS))
def test_progressive_processing_equals_a_rebuild(clean_app, zone, rows, order, erase):
    from mobile_sync.reports.processing_hook import after_processing_run
    from mobile_sync.reports.rebuild import rebuild_reports
    from mobile_sync.store.models import Call, Organization
    from server.extensions import db

    with clean_app.app_context():
        session = db.session
        try:
            org = Organization(name="P", region="IN", settings={"timezone": zone})
            session.add(org)
            session.flush()
            users = reps_with_phones(session, org.id, 3)
            uploads = uploads_of(session, org.id, users, 6, BASE)
            for batch in order:  # each batch's calls arrive with its upload, and are processed then
                for n, (user, minute, kind, duration, number, b) in enumerate(rows):
                    if b != batch:
                        continue
                    started = BASE + timedelta(minutes=minute)
                    session.add(Call(organization_id=org.id, device_id=users[user][1], user_id=users[user][0],
                                     upload_id=uploads[(batch, user)], android_id=n,
                                     date_ms=int(started.timestamp() * 1000), started_at=started,
                                     duration_s=duration, call_type=kind, presentation=1, raw_number=number,
                                     e164=number, number_status="ok" if number else "private", processed_at=BASE))
                session.flush()
                after_processing_run(session, org.id, [uploads[(batch, index)] for index in range(3)])
            if erase:
                session.execute(delete(Call).where(Call.organization_id == org.id, Call.e164 == erase))
            kept = _snapshot(session, org.id)
            rebuild_reports(session, org.id)
            session.expire_all()
            again = _snapshot(session, org.id)
            assert kept[0] == again[0]
            assert kept[1] == again[1]
            assert kept[2] == again[2]
            assert kept[3] == again[3]
        finally:
            session.rollback()
