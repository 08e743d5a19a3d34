"""The calls report's items per user and day, read as the report shows them
(`mobile_sync.reports.figures`): one statement over `report_call_days`, in
(user, day) order, each day as its offset from the range's first day.

Tens of thousands of rows (500 reps over 90 days: 45,000), so the read moves
as little as it can. On PostgreSQL it reads the index
`ix_report_call_days_items` alone (the range's figures, not the wide rows
with their packed numbers) and answers one row per user: the user's days
packed as big-endian 32-bit integers (`int4send`, ten a day: the offset
and the nine figures), joined by `string_agg` and fetched in binary (no
hex text to decode); Python unpacks them with one `struct` call a user.
45,000 rows of eleven columns cost psycopg ~55 ms to turn into tuples at
1M calls; 500 rows of one bytea, a few. The days of a user come in the
index's order, and are sorted here anyway (sorting sorted tuples is one
pass). Elsewhere (SQLite, in process) the rows are read as they are.
"""
from __future__ import annotations

import struct
from datetime import date
from typing import Iterable

from sqlalchemy import bindparam, select

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.models.reports import CallDay

DAYS = CallDay.__table__
# A user's day, in the items' order: the day as its offset from `first`; office hours as (counted, inside).
DAY_COLUMNS = ("day", "incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds",
               "unique_numbers", "office_hours_calls", "in_office_hours")
_FIGURES = ("incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds", "unique_numbers",
            "hours_counted", "in_hours")
_RECORD = struct.Struct(f">{1 + len(_FIGURES)}i")
# Every figure is an `integer` column, so int4send writes each exactly.
_PACKED = {filtered: (
    "SELECT user_id, string_agg(int4send(day - %(first)s::date)"
    + "".join(f" || int4send({name})" for name in _FIGURES)
    + ", ''::bytea) FROM report_call_days"
    " WHERE organization_id = %(org)s AND day >= %(first)s::date AND day <= %(last)s::date"
    + (" AND user_id = ANY(%(users)s::integer[])" if filtered else "") + " GROUP BY user_id")
    for filtered in (False, True)}
_READS: dict = {}


def _statement(filtered: bool):
    if filtered not in _READS:
        d = DAYS.c
        query = select(d.user_id, d.day, *(d[name] for name in _FIGURES)).where(
            d.organization_id == bindparam("org"), d.day >= bindparam("first"), d.day <= bindparam("last"))
        if filtered:
            query = query.where(one_of(d.user_id, "users", False))
        _READS[filtered] = query
    return _READS[filtered]


def call_day_items(session, organization_id: int, first: date, last: date,
                   user_ids: Iterable[int] | None = None) -> list[tuple[int, list[tuple]]]:
    """The organisation's user rows from `first` to `last` (local days,
    inclusive), of some users or all, per user in user order: (user id,
    its days as DAY_COLUMNS tuples in day order, the day as its offset in
    days from `first`)."""
    params = {"org": organization_id, "first": first, "last": last}
    if user_ids is not None:
        params["users"] = list(user_ids)
    if not on_postgresql(session):
        users: dict[int, list[tuple]] = {}
        for user_id, day, *figures in driver_rows(session.connection(), _statement(user_ids is not None), params):
            users.setdefault(user_id, []).append(((day - first).days, *figures))
        return [(user_id, sorted(users[user_id])) for user_id in sorted(users)]
    cursor = session.connection().connection.cursor(binary=True)
    try:
        cursor.execute(_PACKED[user_ids is not None], params)
        packed = cursor.fetchall()
    finally:
        cursor.close()
    return [(user_id, sorted(_RECORD.iter_unpack(days))) for user_id, days in sorted(packed)]
