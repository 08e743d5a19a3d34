"""Retention and the end of service: old call-log rows are purged, a trial
organisation is deleted 90 days after its trial ends (its admins warned a week
before), and an organisation that asked to leave is deleted after its grace
period. Time is passed in, so tests move it instead of sleeping."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from mobile_sync.errors import ServiceError
from mobile_sync.org_settings import effective_settings
# Deleting calls updates the report rollups through the store's deletion hook, which this registers.
import mobile_sync.reports.rollup  # noqa: F401,E402
from mobile_sync.store.models import Call, Organization, SyncUpload, User

TRIAL_DATA_DAYS = 90
WARN_DAYS = 7
CLOSING_GRACE_DAYS = 30


def purge_old_calls(session, now: datetime) -> dict[int, int]:
    """Delete each organisation's calls older than its retention; {org id: deleted}."""
    purged = {}
    for org in session.execute(select(Organization).execution_options(all_organizations=True)).scalars():
        cutoff = now - timedelta(days=effective_settings(org)["retention_days"])
        count = session.execute(delete(Call).where(Call.organization_id == org.id, Call.started_at < cutoff)).rowcount
        session.execute(delete(SyncUpload).where(SyncUpload.organization_id == org.id,
                                                 SyncUpload.processed_at.is_not(None),
                                                 SyncUpload.created_at < cutoff))
        if count:
            purged[org.id] = count
    session.flush()
    return purged


def trial_deletion_date(org: Organization) -> datetime | None:
    if org.plan != "trial" or org.trial_ends_at is None:
        return None
    return org.trial_ends_at + timedelta(days=TRIAL_DATA_DAYS)


def organizations_to_warn(session, now: datetime) -> list[tuple[Organization, list[User]]]:
    """Trial organisations a week from deletion that were not warned yet, with their admins."""
    out = []
    for org in session.execute(select(Organization).where(Organization.plan == "trial")
                               .execution_options(all_organizations=True)).scalars():
        due = trial_deletion_date(org)
        if due is None or (org.settings or {}).get("deletion_warned_at") or not (
                due - timedelta(days=WARN_DAYS) <= now < due):
            continue
        admins = list(session.execute(select(User).where(User.organization_id == org.id, User.role == "admin",
                                                         User.disabled_at.is_(None))
                                      .execution_options(all_organizations=True)).scalars())
        out.append((org, admins))
    return out


def mark_warned(org: Organization, now: datetime) -> None:
    org.settings = {**(org.settings or {}), "deletion_warned_at": now.isoformat()}


def delete_due_organizations(session, now: datetime) -> list[int]:
    """Delete trial organisations 90 days past their trial and closing ones past their grace period."""
    doomed = []
    for org in session.execute(select(Organization).execution_options(all_organizations=True)).scalars():
        trial_due = trial_deletion_date(org)
        if (trial_due is not None and trial_due <= now) or (org.closing_at is not None and org.closing_at <= now):
            doomed.append(org.id)
    for org_id in doomed:
        delete_organization(session, org_id)
    return doomed


def delete_organization(session, org_id: int) -> None:
    """Every row of the organisation goes (foreign keys cascade from organizations)."""
    session.execute(delete(Organization).where(Organization.id == org_id))
    session.flush()


def request_closing(session, org: Organization, confirm: str, now: datetime) -> datetime:
    if confirm != org.name:
        raise ServiceError(422, "invalid_fields", "Type the organisation's exact name to confirm.",
                           fields={"confirm": ["Does not match the organisation's name."]})
    if org.closing_at is None:
        org.closing_at = now + timedelta(days=CLOSING_GRACE_DAYS)
    session.flush()
    return org.closing_at


def cancel_closing(session, org: Organization) -> None:
    org.closing_at = None
    session.flush()
