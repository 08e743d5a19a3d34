"""The suppression list: numbers a reviewer rejected as spam (skipped for the
whole organisation) or as personal (skipped for the rep who owned the lead),
which the auto-lead rules never make into leads (`mobile_sync.leads.reject`).

Only a keyed hash of each number is stored, so a row shows what is still
known: the reason, the rep, the date, and the rejected lead's name and number
while that lead exists (its number only while it still hashes to the row's:
a lead whose number was edited since does not name the suppressed one).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select

from mobile_sync.errors import not_found
from mobile_sync.lead_rules import SUPPRESS
from mobile_sync.number_hash import number_hash
from mobile_sync.store.models import Lead, Suppression, User

PAGE_SIZE = 50


@dataclass(frozen=True)
class SuppressionItem:
    """One suppressed number as a page or the API shows it."""

    id: int
    reason: str
    user_id: int | None          # the rep of a personal rejection; None: the whole organisation (spam)
    user_name: str | None
    lead_id: int | None
    lead_name: str | None        # while the rejected lead exists
    number: str | None           # E.164, while the rejected lead exists and still has the number
    created_at: datetime


def list_suppressions(session, *, organization_id: int, hash_key: str, page: int = 1,
                      limit: int = PAGE_SIZE) -> tuple[list[SuppressionItem], int | None]:
    """The organisation's suppressed numbers, newest first, `limit` a page;
    returns (items, next page or None)."""
    rows = session.execute(
        select(Suppression, Lead.name, Lead.phone, User.name)
        .outerjoin(Lead, and_(Lead.id == Suppression.lead_id, Lead.organization_id == organization_id))
        .outerjoin(User, and_(User.id == Suppression.user_id, User.organization_id == organization_id))
        .where(Suppression.organization_id == organization_id)
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
        .offset((page - 1) * limit).limit(limit + 1)).all()
    next_page = page + 1 if len(rows) > limit else None
    items = []
    for row, lead_name, lead_phone, user_name in rows[:limit]:
        same_number = bool(lead_phone) and number_hash(hash_key, SUPPRESS, organization_id, lead_phone) == \
            row.number_hash
        items.append(SuppressionItem(id=row.id, reason=row.reason, user_id=row.user_id, user_name=user_name,
                                     lead_id=row.lead_id if lead_name is not None else None, lead_name=lead_name,
                                     number=lead_phone if same_number else None, created_at=row.created_at))
    return items, next_page


def remove_suppression(session, *, organization_id: int, suppression_id: int) -> SuppressionItem:
    """Take a number off the list: the auto-lead rules no longer skip it.
    Another organisation's id is not found. Returns what was removed."""
    row = session.execute(select(Suppression).where(Suppression.organization_id == organization_id,
                                                    Suppression.id == suppression_id)).scalar_one_or_none()
    if row is None:
        raise not_found("suppressed number")
    removed = SuppressionItem(id=row.id, reason=row.reason, user_id=row.user_id, user_name=None,
                              lead_id=row.lead_id, lead_name=None, number=None, created_at=row.created_at)
    session.delete(row)
    session.flush()
    return removed
