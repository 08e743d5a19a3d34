"""The leads report's statements: each lead's first response, kept on its
row (`leads.first_response_at`), and the report's read.

The first response of a lead is the first processed outgoing call with its
number at or after its first call (else its creation). It is worked out by
one rule, `first_response`, for the leads whose inputs changed: after a
processing run incrementally (`run_responses`: only the leads whose first
call the run moved are worked out whole), and here (`refresh_first_responses`)
the leads whose
response a deletion of calls may have taken (its time in the deleted
span), and the leads whose calls were counted again (a merge, a consent
withdrawal). A merged lead has no number of its own any more, so no
response: the read leaves it out rather than rewriting it.

The read sums the leads created in a range by source; on PostgreSQL in
one statement over the index `ix_leads_report` alone (the counts, and the
delays as one array a source, whose median Python takes); elsewhere the same
sums in Python.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import median
from typing import Iterable

from sqlalchemy import func, select, update

from mobile_sync.call_types import CallType
from mobile_sync.store.bulk_sql import among
from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.models import Call, Lead

CALLS = Call.__table__
LEADS = Lead.__table__
# The report's statuses, in its column order (`pending` is pending review).
STATUSES = ("approved", "rejected", "merged", "pending_review")


def first_response(organization, since=None):
    """The rule, as a subquery correlated to a lead row: its first response
    is the first processed outgoing call with its number at or after its
    first call (else its creation). `organization`: the organisation's id,
    or the lead's column; `since`: the lead's first call as the same UPDATE
    sets it (by default, as the row holds it)."""
    lead, c = LEADS.c, CALLS.c
    return select(func.min(c.started_at)).where(
        c.organization_id == organization, c.e164 == lead.phone, c.call_type == int(CallType.OUTGOING),
        c.processed_at.is_not(None),
        c.started_at >= (func.coalesce(lead.first_call_at, lead.created_at) if since is None else since),
    ).scalar_subquery()


def _refresh(session, organization_id: int, *conditions) -> int:
    lead = LEADS.c
    first = first_response(organization_id)
    # Rows whose response stays as it is are not written (most of a run's
    # leads): no new row versions, no index entries.
    return session.execute(update(LEADS).where(lead.organization_id == organization_id, *conditions,
                                               lead.first_response_at.is_distinct_from(first))
                           .values(first_response_at=first)).rowcount


def refresh_first_responses(session, organization_id: int, *, lead_ids: Iterable[int] | None = None,
                            responded_between: tuple[datetime, datetime] | None = None) -> int:
    """Work out again the first response of the organisation's leads: these
    leads; or those whose response started in this span (its calls were
    deleted); with no selector, all of them. (A processing run's leads are
    taken with their fold, `record_activity`, and `run_responses`.) Returns the rows."""
    lead = LEADS.c
    conditions = []
    if lead_ids is not None:
        ids = sorted(set(lead_ids))
        if not ids:
            return 0
        conditions.append(among(session, lead.id, ids))
    if responded_between is not None:
        conditions.append(lead.first_response_at.between(*responded_between))
    return _refresh(session, organization_id, *conditions)


# The delay in whole seconds, truncated as Python's int(timedelta.total_seconds())
# is: `date_part` of the interval is a float8 (its microseconds / 1e6, so a
# whole number of seconds is exact and a fraction never rounds up past one),
# where `extract` makes a numeric and cost each lead ~0.4 us more (10M calls:
# 16 -> 10 ms for 12,000 leads). The counts of each status and the delays are
# taken in the one pass over the index, no subquery.
_DELAY = "trunc(date_part('epoch', first_response_at - coalesce(first_call_at, created_at)))::bigint"
_SUMS = {filtered: (
    "SELECT source, count(*), " + ", ".join(f"count(*) FILTER (WHERE status = '{s}')" for s in STATUSES)
    + f", array_agg({_DELAY}) FILTER (WHERE first_response_at IS NOT NULL AND status <> 'merged')"
    " FROM leads WHERE organization_id = %(org)s AND created_at >= %(start)s AND created_at < %(end)s"
    + (" AND owner_id = ANY(%(owners)s::integer[])" if filtered else "") + " GROUP BY source")
    for filtered in (False, True)}


def lead_sums(session, organization_id: int, start: datetime, end: datetime,
              owner_ids: Iterable[int] | None = None) -> list[tuple]:
    """Per source of the leads created between `start` and `end` (exclusive),
    of some owners or all, in source order: (source, created, approved,
    rejected, merged, pending review, responded, median seconds to the first
    response, or None)."""
    if on_postgresql(session):
        params = {"org": organization_id, "start": start, "end": end}
        if owner_ids is not None:
            params["owners"] = sorted(set(owner_ids))
        cursor = session.connection().connection.cursor(binary=True)  # the delays as int8, not as text
        try:
            cursor.execute(_SUMS[owner_ids is not None], params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return sorted((source, *counts, len(delays or ()), median(delays) if delays else None)
                      for source, *counts, delays in rows)
    lead = LEADS.c
    query = select(lead.source, lead.status, lead.first_response_at,
                   func.coalesce(lead.first_call_at, lead.created_at)).where(
        lead.organization_id == organization_id, lead.created_at >= start, lead.created_at < end)
    if owner_ids is not None:
        query = query.where(among(session, lead.owner_id, sorted(set(owner_ids))))
    counts: dict[str, list[int]] = {}
    delays: dict[str, list[int]] = defaultdict(list)
    for source, status, responded_at, answered_from in session.execute(query):
        item = counts.setdefault(source, [0] * (1 + len(STATUSES)))
        item[0] += 1
        if status in STATUSES:
            item[1 + STATUSES.index(status)] += 1
        if responded_at is not None and status != "merged":
            delays[source].append(int((responded_at - answered_from).total_seconds()))
    return [(source, *counts[source], len(delays[source]), median(delays[source]) if delays[source] else None)
            for source in sorted(counts)]
