"""Rebuilding the report rollups from the stored calls: an organisation's
(after its time zone changed, after an import, or to repair: `flask
reports-rebuild`), or one user's (after their own zone or office hours
changed). The processing hook keeps them up to date otherwise
(`mobile_sync.reports.rollup`)."""
from __future__ import annotations

from datetime import date

from mobile_sync.reports.rollup import OrgClock, recompute_days, sum_org_days
from mobile_sync.store import rollup_missed, rollups
from mobile_sync.store.bulk_sql import plan_for_each_batch
from mobile_sync.store.lead_figures import refresh_first_responses
from mobile_sync.store.lead_rollup import rebuild_lead_days
from mobile_sync.store.locks import lock_processing


def rebuild_reports(session, organization_id: int) -> int:
    """Recompute the organisation's rollups from its stored calls (after its
    time zone changed, or to repair); returns the users rebuilt. Flushes,
    does not commit."""
    lock_processing(session, organization_id)
    plan_for_each_batch(session)  # statements taking arrays, planned for each user's
    clock = OrgClock(session, organization_id)
    rollup_missed.delete_missed(session, organization_id)
    rollups.delete_call_days(session, organization_id)
    rollups.delete_org_days(session, organization_id)
    users = rollups.users_with_calls(session, organization_id)
    days: set[date] = set()
    for user_id, first, last in users:
        days |= recompute_days(session, organization_id, user_id, clock.day_of(first), clock.day_of(last), clock,
                               fresh=True)
    ordered = sorted(days)
    for start in range(0, len(ordered), 31):  # a month's user rows at a time
        sum_org_days(session, organization_id, ordered[start:start + 31])
    refresh_first_responses(session, organization_id)  # the leads report's, kept on the leads
    rebuild_lead_days(session, organization_id)  # and its rollup (PostgreSQL: its triggers keep it otherwise)
    session.flush()
    return len(users)


def rebuild_user_reports(session, organization_id: int, user_id: int) -> bool:
    """Recompute one user's rollups from their stored calls (after their
    office hours or their own zone changed: the share is worked out when a
    call is processed); False if they have no calls. Flushes, does not commit."""
    lock_processing(session, organization_id)
    span = [u for u in rollups.users_with_calls(session, organization_id, user_id) if u[0] == user_id]
    if not span:
        return False
    clock = OrgClock(session, organization_id, [user_id])
    _user, first, last = span[0]
    sum_org_days(session, organization_id, recompute_days(
        session, organization_id, user_id, clock.day_of(first), clock.day_of(last), clock))
    session.flush()
    return True

