"""The reports' reads over `report_call_days` that PostgreSQL answers as
one packed row per user: the calls report's items per user and day, and the
missed calls report's counts and call-back delays (`mobile_sync.reports.figures`).

Tens of thousands of user-days (500 reps over 90 days: 45,000), so the
reads move as little as they can: 500 rows of one bytea each, fetched in
binary (no hex text to decode), unpacked by one `struct` or `array` call a
user. 45,000 rows of eleven columns cost psycopg ~55 ms to turn into tuples
at 1M calls; 500 rows of one bytea, a few.

Per user and day, PostgreSQL reads the range's slots of each user's month
rows (`rollup_months.month_items`: ~4 rows a user, not ~90 day rows), a
substring each, joined per user in month order: one row a user, its days
as big-endian 32-bit integers (ten a day: the day and the nine figures).
Before the month rows it packed the day rows found in the index
`ix_report_call_days_items` the same way (45,000 index entries: ~30 ms of
database CPU at 10M calls); measured no faster then: one `ARRAY[...]` a
row in `array_agg`, one `array_agg` a column (1.6x slower), and COPY ...
(FORMAT binary) of the rows (2x slower).

Missed calls: each user's sum of `missed` and its days' `callbacks`
(unsigned 32-bit seconds) joined by `string_agg`, so the median is taken
from one array a user.

Elsewhere (SQLite, in process) the rows are read as they are and grouped here.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Iterable

from sqlalchemy import bindparam, select

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.models.reports import ITEM_FIGURES, CallDay
from mobile_sync.store.rollup_months import EPOCH, SLOT, month_items

DAYS = CallDay.__table__
# A user's day, in the items' order: the day as days since 1970-01-01; office hours as (counted, inside).
DAY_COLUMNS = ("day", "incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds",
               "unique_numbers", "office_hours_calls", "in_office_hours")
_WHERE = (" FROM report_call_days WHERE organization_id = %(org)s"
          " AND day >= %(first)s::date AND day <= %(last)s::date")
_USERS = " AND user_id = ANY(%(users)s::integer[])"
_MISSED = {filtered: (
    "SELECT user_id, sum(missed)::bigint, string_agg(callbacks, ''::bytea)"
    + _WHERE + " AND missed > 0" + (_USERS if filtered else "") + " GROUP BY user_id")
    for filtered in (False, True)}
_READS: dict = {}


def _statement(kind: str, filtered: bool):
    if (kind, filtered) not in _READS:
        d = DAYS.c
        columns = {"items": [d.user_id, d.day, *(d[name] for name in ITEM_FIGURES)],
                   "missed": [d.user_id, d.missed, d.callbacks]}[kind]
        query = select(*columns).where(
            d.organization_id == bindparam("org"), d.day >= bindparam("first"), d.day <= bindparam("last"))
        if kind == "missed":
            query = query.where(d.missed > 0)
        if filtered:
            query = query.where(one_of(d.user_id, "users", False))
        _READS[kind, filtered] = query
    return _READS[kind, filtered]


def _params(organization_id: int, first: date, last: date, user_ids: Iterable[int] | None) -> dict:
    params = {"org": organization_id, "first": first, "last": last}
    if user_ids is not None:
        params["users"] = list(user_ids)
    return params


def _binary_rows(session, sql: str, params: dict) -> list[tuple]:
    cursor = session.connection().connection.cursor(binary=True)
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def call_day_items(session, organization_id: int, first: date, last: date,
                   user_ids: Iterable[int] | None = None) -> list[tuple[int, Iterable[tuple]]]:
    """The organisation's user rows from `first` to `last` (local days,
    inclusive), of some users or all, per user in user order: (user id,
    its days as DAY_COLUMNS tuples in day order, the day as days since
    1970-01-01; a tuple whose day is 0 is no row, to skip). On PostgreSQL
    the range's slots of each user's month rows (`rollup_months`)."""
    if on_postgresql(session):
        return [(user_id, SLOT.iter_unpack(days)) for user_id, days in
                month_items(session, organization_id, first, last, user_ids)]
    users: dict[int, list[tuple]] = {}
    for user_id, day, *figures in driver_rows(session.connection(), _statement("items", user_ids is not None),
                                              _params(organization_id, first, last, user_ids)):
        users.setdefault(user_id, []).append(((day - EPOCH).days, *figures))
    return [(user_id, sorted(users[user_id])) for user_id in sorted(users)]


def missed_by_user(session, organization_id: int, first: date, last: date,
                   user_ids: Iterable[int] | None = None) -> list[tuple[int, int, bytes]]:
    """Per user with missed calls from `first` to `last` (local days,
    inclusive), of some users or all, in user order: (user id, missed calls,
    the seconds to call back of those returned, packed as `callbacks` is)."""
    params = _params(organization_id, first, last, user_ids)
    if on_postgresql(session):
        return sorted((user_id, int(missed), callbacks or b"")
                      for user_id, missed, callbacks in _binary_rows(session, _MISSED[user_ids is not None], params))
    missed: dict[int, int] = defaultdict(int)
    packed: dict[int, list[bytes]] = defaultdict(list)
    for user_id, count, callbacks in driver_rows(session.connection(), _statement("missed", user_ids is not None),
                                                 params):
        missed[user_id] += count
        packed[user_id].append(callbacks or b"")
    return [(user_id, missed[user_id], b"".join(packed[user_id])) for user_id in sorted(missed)]
