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

The read sums the leads created in a range by source. On PostgreSQL in one
statement: every owner's from the rollup (`report_lead_days`, kept by
triggers: `lead_rollup`) for the whole UTC days of the range and from the
index `ix_leads_report` alone for the part days at its edges; some owners'
from the index (the counts, and the delays as one string a source, whose
median Python takes). Elsewhere the same sums in Python.
"""
from __future__ import annotations

import struct
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from statistics import median
from typing import Iterable

from sqlalchemy import and_, case, func, literal_column, select, update

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
# 16 -> 10 ms for 12,000 leads). The rollup's triggers (`lead_rollup`) use it too.
# Delays travel packed, big-endian 64-bit integers end to end (`int8send`), not
# as arrays: a bytea is sent and read as one string (a 90-day range's ~8,000
# delays: 0.45 ms less than as int8[] arrays, 1.5 -> 1.05 ms at 10M calls).
DELAY_SECONDS = "trunc(date_part('epoch', first_response_at - coalesce(first_call_at, created_at)))::bigint"


def _leads_sums(low: str, high: str, filtered: bool) -> str:
    """Per source, the leads created from %(low)s to %(high)s (exclusive):
    the counts of each status and the delays, in one pass over the index."""
    return ("SELECT source, count(*), " + ", ".join(f"count(*) FILTER (WHERE status = '{s}')" for s in STATUSES)
            + f", string_agg(int8send({DELAY_SECONDS}), ''::bytea)"
            " FILTER (WHERE first_response_at IS NOT NULL AND status <> 'merged')"
            f" FROM leads WHERE organization_id = %(org)s AND created_at >= %({low})s AND created_at < %({high})s"
            + (" AND owner_id = ANY(%(owners)s::integer[])" if filtered else "") + " GROUP BY source")


_SUMS = {filtered: _leads_sums("start", "end", filtered) for filtered in (False, True)}
# Every owner's: the whole UTC days inside the range from the rollup
# (`report_lead_days`, kept by `lead_rollup`'s triggers), the part days at
# either edge (an organisation's day rarely starts at UTC midnight) from the
# leads as above; a row a source: the sums, and the delays one string.
_ROLLED = ("SELECT source, " + ", ".join(f"sum({c})::bigint" for c in ("n", *STATUSES)) + ", string_agg(d, ''::bytea)"
           " FROM (SELECT source, created, approved, rejected, merged, pending, delays FROM report_lead_days"
           " WHERE organization_id = %(org)s AND day >= %(first_day)s AND day < %(end_day)s"
           f" UNION ALL {_leads_sums('start', 'first_midnight', False)}"
           f" UNION ALL {_leads_sums('end_midnight', 'end', False)}) AS parts(source, n, {', '.join(STATUSES)}, d)"
           " GROUP BY source")


def _whole_days(start: datetime, end: datetime) -> tuple[date, date] | None:
    """The UTC days wholly inside [start, end): (first, end exclusive), or None."""
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    first = start.date() if start.timetz() == time(tzinfo=timezone.utc) else start.date() + timedelta(days=1)
    return (first, end.date()) if first < end.date() else None


def _postgresql_rows(session, organization_id: int, start: datetime, end: datetime,
                     owner_ids: Iterable[int] | None) -> list[tuple]:
    params = {"org": organization_id, "start": start, "end": end}
    days = _whole_days(start, end) if owner_ids is None else None
    if days is not None:
        statement = _ROLLED
        params.update(first_day=days[0], end_day=days[1],
                      first_midnight=datetime.combine(days[0], time(), timezone.utc),
                      end_midnight=datetime.combine(days[1], time(), timezone.utc))
    else:
        statement = _SUMS[owner_ids is not None]
        if owner_ids is not None:
            params["owners"] = sorted(set(owner_ids))
    cursor = session.connection().connection.cursor(binary=True)
    try:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return [(*figures, struct.unpack(f">{len(delays) // 8}q", delays) if delays else None)
            for *figures, delays in rows]


# SQLite keeps a timestamp as text, 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's
# format): the delay in whole seconds from the whole seconds (the text's
# first 19 characters: strftime would round .9995 up to the next second)
# and the microseconds of each, truncated as Python's int(timedelta.total_seconds()) is.
_SQLITE_DELAY = literal_column(
    "(((CAST(strftime('%s', substr(first_response_at, 1, 19)) AS INTEGER)"
    " - CAST(strftime('%s', substr({since}, 1, 19)) AS INTEGER)) * 1000000"
    " + CAST(substr(first_response_at, 21, 6) AS INTEGER) - CAST(substr({since}, 21, 6) AS INTEGER)) / 1000000)"
    .format(since="coalesce(first_call_at, created_at)"))


def _generic_rows(session, organization_id: int, start: datetime, end: datetime,
                  owner_ids: Iterable[int] | None) -> list[tuple]:
    """The statements' rows elsewhere (SQLite): per source, the counts and
    the delays as one comma-separated text (10,000 leads: 58 ms read a
    lead at a time, their timestamps made datetimes, ~7 ms so)."""
    lead = LEADS.c
    responded = and_(lead.first_response_at.is_not(None), lead.status != "merged")
    query = select(lead.source, func.count(), *(func.sum(case((lead.status == s, 1), else_=0)) for s in STATUSES),
                   func.group_concat(case((responded, _SQLITE_DELAY)))).where(
        lead.organization_id == organization_id, lead.created_at >= start, lead.created_at < end).group_by(lead.source)
    if owner_ids is not None:
        query = query.where(among(session, lead.owner_id, sorted(set(owner_ids))))
    return [(*figures, [int(delay) for delay in delays.split(",")] if delays else None)
            for *figures, delays in session.execute(query)]


def lead_sums(session, organization_id: int, start: datetime, end: datetime,
              owner_ids: Iterable[int] | None = None) -> list[tuple]:
    """Per source of the leads created between `start` and `end` (exclusive),
    of some owners or all, in source order: (source, created, approved,
    rejected, merged, pending review, responded, median seconds to the first
    response, or None)."""
    rows = (_postgresql_rows if on_postgresql(session) else _generic_rows)(session, organization_id, start, end,
                                                                           owner_ids)
    counts: dict[str, list[int]] = {}
    delays: dict[str, list[int]] = defaultdict(list)
    for source, *figures, some in rows:
        item = counts.setdefault(source, [0] * (1 + len(STATUSES)))
        for index, figure in enumerate(figures):
            item[index] += figure
        if some:
            delays[source] += some
    # The rollup's delays are sorted runs (a day's each): median's sort is short.
    return [(source, *counts[source], len(delays[source]), median(delays[source]) if delays[source] else None)
            for source in sorted(counts)]
