"""Reading the stored call log: a page of calls, newest first, between two times."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select

from mobile_sync.errors import invalid
from mobile_sync.record_search import call_condition
from mobile_sync.store.models import Call


def _start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def _placed(moment: datetime, tz: ZoneInfo) -> datetime:
    """A time without an offset is the organisation's local time."""
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def time_range(from_: date | datetime | None, to: date | datetime | None, tz: ZoneInfo):
    """(start, end, end included) of `from`..`to`: a day is the organisation's
    day, whole; 422 when `to` comes before `from`."""
    start = end = None
    included = True
    if from_ is not None:
        start = _placed(from_, tz) if isinstance(from_, datetime) else _start_of(from_, tz)
    if to is not None:
        if isinstance(to, datetime):
            end = _placed(to, tz)
        else:
            end, included = _start_of(to + timedelta(days=1), tz), False
    if start is not None and end is not None and (start > end or (start == end and not included)):
        raise invalid({"to": ["Must not be before `from`."]}, "The time range is reversed.")
    return start, end, included


def calls_query(*, organization_id: int, tz: ZoneInfo, user_id: int | None = None, own_user_id: int | None = None,
                from_=None, to=None) -> Select:
    """The calls a reader may see, newest first: the organisation's, `user_id`'s
    if given, only `own_user_id`'s for a rep. Bounded by organisation and start
    time, so it reads ix_calls_org_started."""
    start, end, included = time_range(from_, to, tz)
    query = select(Call).where(Call.organization_id == organization_id)
    for only in (user_id, own_user_id):
        if only is not None:
            query = query.where(Call.user_id == only)
    if start is not None:
        query = query.where(Call.started_at >= start)
    if end is not None:
        query = query.where(Call.started_at <= end if included else Call.started_at < end)
    return query.order_by(Call.started_at.desc(), Call.id.desc())


def list_calls(session, *, page: int = 1, limit: int = 50, q: str | None = None, region: str | None = None,
               **filters) -> tuple[list[Call], int | None]:
    """A page of `calls_query(**filters)`, found by `q` (mobile_sync.record_search;
    `region` reads a national number); returns (calls, next page or None)."""
    query = calls_query(**filters)
    if q:
        query = query.where(call_condition(session, filters["organization_id"], q, region))
    rows = list(session.execute(query.offset((page - 1) * limit).limit(limit + 1)).scalars())
    return rows[:limit], (page + 1 if len(rows) > limit else None)
