"""The calls report's items per user and day, read as the report shows them
(`mobile_sync.reports.figures`): one statement over `report_call_days`, in
(user, day) order.

Tens of thousands of rows (500 reps over 90 days: 45,000), so the read is
built once per kind of database and run through `driver_rows`. On
PostgreSQL it reads the index `ix_report_call_days_items` alone (the
range's figures, not the wide rows with their packed numbers), in its
(day, user) order; the rows are put in (user, day) order here: sorting
them in PostgreSQL cost 33 ms of a 42 ms statement at 1M calls (and in
the default 4 MB of sort memory it spilled to disk), Python's sort of the
tuples ~10 ms. Returning the day as text from PostgreSQL cost more than
`date.isoformat` in Python.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable

from sqlalchemy import bindparam, select

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.models.reports import CallDay

DAYS = CallDay.__table__
# The columns, in the items' order: office hours as (counted, inside).
ITEM_COLUMNS = ("user_id", "day", "incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds",
                "unique_numbers", "office_hours_calls", "in_office_hours")
_READS: dict = {}


def _statement(filtered: bool, postgresql: bool):
    key = (filtered, postgresql)
    if key not in _READS:
        d = DAYS.c
        query = select(d.user_id, d.day, d.incoming, d.outgoing, d.missed, d.rejected, d.connected,
                       d.talk_seconds, d.unique_numbers, d.hours_counted, d.in_hours).where(
            d.organization_id == bindparam("org"), d.day >= bindparam("first"), d.day <= bindparam("last"))
        if filtered:
            query = query.where(one_of(d.user_id, "users", postgresql))
        _READS[key] = query
    return _READS[key]


def call_day_items(session, organization_id: int, first: date, last: date,
                   user_ids: Iterable[int] | None = None) -> list[tuple]:
    """The organisation's user rows from `first` to `last` (local days,
    inclusive), of some users or all, as ITEM_COLUMNS tuples (the day a
    date), in (user, day) order."""
    params = {"org": organization_id, "first": first, "last": last}
    if user_ids is not None:
        params["users"] = list(user_ids)
    rows = driver_rows(session.connection(), _statement(user_ids is not None, on_postgresql(session)), params)
    rows.sort()  # by (user, day): unique, so no further column is compared
    return rows
