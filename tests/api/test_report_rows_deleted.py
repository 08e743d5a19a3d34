"""The rollups' missed-call rows have no foreign key (each key checked cost
every processing run's upsert): every deletion takes them itself. An
organisation deleted leaves none of its report rows; calls erased leave no
missed-call row of theirs; another organisation's rows stay."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.api.test_reports import ASHA, BALA, at, upload


def _report_rows(app, organization_id: int) -> dict[str, int]:
    from mobile_sync.store.models import Call
    from mobile_sync.store.models.reports import CallDay, MissedCallback, OrgDay
    from server.extensions import db

    with app.app_context():
        counts = {model.__tablename__: db.session.execute(
            select(func.count()).select_from(model).where(model.organization_id == organization_id)
            .execution_options(all_organizations=True)).scalar()
            for model in (CallDay, OrgDay, MissedCallback)}
        counts["orphan missed rows"] = db.session.execute(
            select(func.count()).select_from(MissedCallback).where(
                MissedCallback.organization_id == organization_id,
                ~select(Call.id).where(Call.id == MissedCallback.call_id).exists())
            .execution_options(all_organizations=True)).scalar()
        db.session.rollback()
    return counts


def test_a_deleted_organisation_leaves_no_report_rows(make_org, make_user, make_device, clean_app):
    from mobile_sync.retention import delete_organization
    from server.extensions import db

    gone, kept = make_device(make_user(make_org(region="IN"))), make_device(make_user(make_org(region="IN")))
    for phone in (gone, kept):
        upload(phone, (ASHA, at(20, 10), 3, 0), (BALA, at(20, 11), 3, 0), (ASHA, at(20, 12), 2, 30))
    before = _report_rows(clean_app, gone.organization_id)
    assert before["report_missed_calls"] == 2 and before["report_call_days"] == 1
    with clean_app.app_context():
        delete_organization(db.session, gone.organization_id)
        db.session.commit()
    assert _report_rows(clean_app, gone.organization_id) == {
        "report_call_days": 0, "report_org_days": 0, "report_missed_calls": 0, "orphan missed rows": 0}
    assert _report_rows(clean_app, kept.organization_id) == before


def test_erased_calls_leave_no_missed_call_rows(make_org, make_user, make_device, clean_app):
    admin = make_org(region="IN")
    ravi = make_device(make_user(admin, name="Ravi"))
    upload(ravi, (ASHA, at(20, 10), 3, 0), (ASHA, at(21, 10), 3, 0), (BALA, at(20, 11), 3, 0))
    assert admin.post("/api/v1/erasure", json={"phone": ASHA}).status_code == 200
    rows = _report_rows(clean_app, ravi.organization_id)
    assert rows["report_missed_calls"] == 1 and rows["orphan missed rows"] == 0
