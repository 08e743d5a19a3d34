"""Plans and their limits. An organisation's settings may override a limit
(`record_limit`, `daily_request_limit`); None means unlimited."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from mobile_sync.errors import ServiceError

PLANS = {
    "trial": {"record_limit": 250_000, "daily_request_limit": 200_000},
    "team": {"record_limit": 2_000_000, "daily_request_limit": 2_000_000},
    "business": {"record_limit": 20_000_000, "daily_request_limit": 20_000_000},
    "unlimited": {"record_limit": None, "daily_request_limit": None},
}


def plan_limit(org, name: str):
    settings = org.settings or {}
    if name in settings:
        return settings[name]
    return PLANS.get(org.plan, PLANS["trial"])[name]


def record_count(session, organization_id: int) -> int:
    """Contacts + leads + calls of the organisation: what the record limit counts."""
    from mobile_sync.store.models import Call, Contact, Lead

    total = 0
    for model in (Call, Contact, Lead):
        total += session.execute(
            select(func.count()).select_from(model).where(model.organization_id == organization_id)
        ).scalar_one()
    return total


# {organisation id: (records counted, monotonic time)}. Counting three tables on
# every upload grows with the organisation; far from the limit a recent count
# plus what this process added since is exact enough, and near it (or when
# older than a minute) the count is taken again.
_COUNTS: dict[tuple, tuple[int, float]] = {}
_RECOUNT_AFTER_S = 60
_NEAR = 0.9


def check_record_limit(session, org, adding: int, *, stored: bool = False) -> None:
    """Refuse an upload that would take the organisation over its record limit.

    `stored`: the `adding` records are already written in this transaction
    (so a count includes them); the caller's rollback undoes them on refusal.
    """
    limit = plan_limit(org, "record_limit")
    if limit is None or adding <= 0:
        return
    key = (org.id, org.created_at)
    cached = _COUNTS.get(key)
    if cached and time.monotonic() - cached[1] < _RECOUNT_AFTER_S and cached[0] + adding < _NEAR * limit:
        _COUNTS[key] = (cached[0] + adding, cached[1])
        return
    current = record_count(session, org.id) - (adding if stored else 0)
    if current + adding > limit:
        raise ServiceError(
            403, "record_limit_reached",
            f"Your organisation's plan allows {limit} records and has {current}; this upload would add "
            f"{adding}. Nothing from it was stored; keep it queued and upgrade the plan or delete old data.")
    _COUNTS[key] = (current + adding, time.monotonic())
