"""The statements of the report rollups (`report_call_days`,
`report_missed_calls`), each scoped by organisation, and the one hook every
deletion of calls goes through.

Generic SQLAlchemy Core, but for the two upserts, which PostgreSQL takes as
one JSON document a batch (`_PostgresRollupStatements`). Local days are
worked out in Python (`mobile_sync.reports.rollup`), since SQLite knows no
time zones; this module takes and returns UTC times and dates.

The hook: every deletion of calls in the code base is an ORM `delete(Call)`
statement (erasure, retention, a consent withdrawal, a private number); a
`do_orm_execute` listener sees each, asks which (organisation, user) and
time span it is about to remove, runs it, and hands the spans to the
callbacks registered with `on_calls_deleted`, which recompute those days
from the calls left. Deletions by a foreign key's cascade (an organisation
or a user deleted) take their rollup rows with them by the same cascade.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterable

import orjson
from sqlalchemy import and_, bindparam, delete, event, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from mobile_sync.call_types import CallType
from mobile_sync.store.bulk_sql import among, driver_rows, one_of, upsert
from mobile_sync.store.dialect import on_postgresql, per_engine
from mobile_sync.store.models import Call, Lead
from mobile_sync.store.models.reports import CallDay, MissedCallback

CALLS = Call.__table__
DAYS = CallDay.__table__
MISSED = MissedCallback.__table__
DAY_FIGURES = ("incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds", "unique_numbers",
               "in_hours", "hours_counted", "returned")


@dataclass(slots=True)
class CallFigures:
    """What the reports need of one processed call."""

    id: int
    user_id: int
    started_at: datetime
    duration_s: int
    call_type: int
    e164: str | None


@dataclass(slots=True)
class DeletedSpan:
    """Calls of one user deleted between two start times (inclusive)."""

    organization_id: int
    user_id: int
    first: datetime
    last: datetime


def _calls_columns():
    c = CALLS.c
    return c.id, c.user_id, c.started_at, c.duration_s, c.call_type, c.e164


def processed_calls(session, organization_id: int, *, upload_ids: Iterable[int] | None = None,
                    user_id: int | None = None, start: datetime | None = None,
                    end: datetime | None = None) -> list[CallFigures]:
    """The organisation's processed calls, of some uploads or of one user
    between `start` (inclusive) and `end` (exclusive), in call order."""
    c = CALLS.c
    query = select(*_calls_columns()).where(c.organization_id == organization_id, c.processed_at.is_not(None))
    if upload_ids is not None:
        query = query.where(among(session, c.upload_id, list(upload_ids)))
    if user_id is not None:
        query = query.where(c.user_id == user_id)
    if start is not None:
        query = query.where(c.started_at >= start)
    if end is not None:
        query = query.where(c.started_at < end)
    return [CallFigures(*row) for row in session.execute(query.order_by(c.started_at, c.id))]


def users_with_calls(session, organization_id: int) -> list[tuple[int, datetime, datetime]]:
    """(user id, first start, last start) of each user with processed calls."""
    c = CALLS.c
    return [tuple(row) for row in session.execute(
        select(c.user_id, func.min(c.started_at), func.max(c.started_at))
        .where(c.organization_id == organization_id, c.processed_at.is_not(None)).group_by(c.user_id))]


def read_call_days(session, organization_id: int, first: date, last: date, user_ids: Iterable[int] | None = None,
                   *, numbers: bool = False, callbacks: bool = False) -> list:
    """Rollup rows of the organisation from `first` to `last` (local days,
    inclusive), of some users or all; the packed columns only when asked."""
    d = DAYS.c
    columns = [d.user_id, d.day, *(d[name] for name in DAY_FIGURES)]
    if numbers:
        columns.append(d.numbers)
    if callbacks:
        columns.append(d.callbacks)
    if not (numbers or callbacks):
        return _driver_read(session, "days", organization_id, first, last, user_ids)
    query = select(*columns).where(d.organization_id == organization_id, d.day >= first, d.day <= last)
    if user_ids is not None:
        query = query.where(among(session, d.user_id, list(user_ids)))
    return session.execute(query.order_by(d.user_id, d.day)).all()


# The reports' reads of many rows, built once per kind of database and run
# through `driver_rows`: for 45,000 rows SQLAlchemy's result rows cost as
# much again as the driver's own fetch.
_READS: dict = {}


def _read_statement(kind: str, filtered: bool, postgresql: bool):
    key = (kind, filtered, postgresql)
    if key not in _READS:
        d = DAYS.c
        columns = {"days": [d.user_id, d.day, *(d[name] for name in DAY_FIGURES)],
                   "numbers": [d.user_id, d.day, d.missed, d.numbers],
                   "callbacks": [d.user_id, d.day, d.missed, d.callbacks]}[kind]
        query = select(*columns).where(d.organization_id == bindparam("org"), d.day >= bindparam("first"),
                                       d.day <= bindparam("last"))
        if kind == "callbacks":
            query = query.where(d.missed > 0)
        if filtered:
            query = query.where(one_of(d.user_id, "users", postgresql))
        _READS[key] = query.order_by(d.user_id, d.day)
    return _READS[key]


def _driver_read(session, kind: str, organization_id: int, first: date, last: date,
                 user_ids: Iterable[int] | None) -> list[tuple]:
    filtered = user_ids is not None
    params = {"org": organization_id, "first": first, "last": last}
    if filtered:
        params["users"] = list(user_ids)
    return driver_rows(session.connection(), _read_statement(kind, filtered, on_postgresql(session)), params)


def sum_call_days(session, organization_id: int, first: date, last: date, user_ids: Iterable[int] | None,
                  by: str) -> list:
    """Sums of the rollup rows from `first` to `last` per `by` ("user_id" or
    "day"): (key, every figure but unique_numbers and returned), in key order."""
    d = DAYS.c
    key = d[by]
    query = select(key, *(func.sum(d[name]) for name in DAY_FIGURES if name not in ("unique_numbers", "returned"))) \
        .where(d.organization_id == organization_id, d.day >= first, d.day <= last).group_by(key).order_by(key)
    if user_ids is not None:
        query = query.where(among(session, d.user_id, list(user_ids)))
    return session.execute(query).all()


def packed_column(session, organization_id: int, first: date, last: date, user_ids: Iterable[int] | None,
                  column: str) -> list:
    """(user_id, day, missed, the packed `column`: "numbers" or "callbacks")
    of the rollup rows from `first` to `last`; for "callbacks", only days
    with missed calls."""
    return _driver_read(session, column, organization_id, first, last, user_ids)


def write_call_days(session, organization_id: int, rows: list[dict]) -> None:
    """Insert or replace rollup rows (each a full row: user_id, day, every
    figure, numbers, callbacks) of the organisation."""
    if rows:
        _statements(session).write_call_days(session, organization_id, rows)


def delete_call_days(session, organization_id: int, user_id: int | None = None, first: date | None = None,
                     last: date | None = None) -> int:
    """Remove the organisation's rollup rows (of one user, between two days)."""
    d = DAYS.c
    statement = delete(DAYS).where(d.organization_id == organization_id)
    if user_id is not None:
        statement = statement.where(d.user_id == user_id)
    if first is not None:
        statement = statement.where(d.day >= first)
    if last is not None:
        statement = statement.where(d.day <= last)
    return session.execute(statement).rowcount


def _returns(missed, later):
    """`later` returns the call `missed`: the same number, after it, outgoing
    or connected (an answered incoming call that lasted)."""
    return and_(later.c.organization_id == missed.c.organization_id, later.c.e164 == missed.c.e164,
                or_(later.c.started_at > missed.c.started_at,
                    and_(later.c.started_at == missed.c.started_at, later.c.id > missed.c.id)),
                or_(later.c.call_type == int(CallType.OUTGOING),
                    and_(later.c.call_type == int(CallType.INCOMING), later.c.duration_s > 0)))


def find_callbacks(session, organization_id: int, call_ids: list[int]) -> dict[int, tuple[int, datetime]]:
    """For each of the organisation's calls given (missed ones), the first
    call that returned it: {call id: (callback id, its start)}; unreturned
    calls are absent. One index probe (organisation, number) per call."""
    if not call_ids:
        return {}
    missed, later = CALLS.alias("missed"), CALLS.alias("later")
    first = (select(later.c.id).where(_returns(missed, later))
             .order_by(later.c.started_at, later.c.id).limit(1).scalar_subquery())
    callback = aliased(Call)
    found = {}
    for start in range(0, len(call_ids), 1000):
        chunk = call_ids[start:start + 1000]
        rows = session.execute(
            select(missed.c.id, callback.id, callback.started_at)
            .join(callback, callback.id == first)
            .where(missed.c.organization_id == organization_id, missed.c.e164.is_not(None),
                   among(session, missed.c.id, chunk)))
        found.update({row[0]: (row[1], row[2]) for row in rows})
    return found


def write_missed(session, organization_id: int, rows: list[dict]) -> None:
    """Insert or replace missed-call rows (call_id, user_id, day, started_at,
    callback_call_id, callback_at) of the organisation; a row of another
    organisation's call is left as it is."""
    if rows:
        _statements(session).write_missed(session, organization_id, rows)


def missed_rows(session, organization_id: int, *, user_id: int | None = None, first: date | None = None,
                last: date | None = None, call_ids: list[int] | None = None) -> list:
    """Missed-call rows (call_id, user_id, day, started_at, callback_call_id, callback_at)."""
    m = MISSED.c
    query = select(m.call_id, m.user_id, m.day, m.started_at, m.callback_call_id, m.callback_at).where(
        m.organization_id == organization_id)
    if user_id is not None:
        query = query.where(m.user_id == user_id)
    if first is not None:
        query = query.where(m.day >= first)
    if last is not None:
        query = query.where(m.day <= last)
    if call_ids is not None:
        query = query.where(among(session, m.call_id, call_ids))
    return session.execute(query).all()


def delete_missed(session, organization_id: int, user_id: int | None = None, first: date | None = None,
                  last: date | None = None) -> int:
    """Remove the organisation's missed-call rows (of one user, between two days)."""
    m = MISSED.c
    statement = delete(MISSED).where(m.organization_id == organization_id)
    if user_id is not None:
        statement = statement.where(m.user_id == user_id)
    if first is not None:
        statement = statement.where(m.day >= first)
    if last is not None:
        statement = statement.where(m.day <= last)
    return session.execute(statement).rowcount


def missed_returnable_by(session, organization_id: int, calls: list[tuple[str, datetime]]) -> list[int]:
    """Missed-call rows that calls (number, start) of the organisation may
    return sooner than what returns them now: same number, missed before the
    call, unreturned or returned after it."""
    if not calls:
        return []
    earliest: dict[str, datetime] = {}
    latest: dict[str, datetime] = {}
    for e164, started_at in calls:
        earliest[e164] = min(earliest.get(e164, started_at), started_at)
        latest[e164] = max(latest.get(e164, started_at), started_at)
    m, c = MISSED.c, CALLS.c
    found: list[int] = []
    numbers = sorted(latest)
    for start in range(0, len(numbers), 1000):
        chunk = numbers[start:start + 1000]
        rows = session.execute(
            select(m.call_id, c.e164, c.started_at, m.callback_at).join(CALLS, c.id == m.call_id)
            .where(c.organization_id == organization_id, among(session, c.e164, chunk),
                   m.organization_id == organization_id))
        found.extend(call_id for call_id, e164, started_at, callback_at in rows
                     if started_at <= latest[e164] and (callback_at is None or callback_at >= earliest[e164]))
    return found


def missed_with_lost_callbacks(session, organization_id: int, first: datetime, last: datetime) -> list[int]:
    """Missed-call rows whose call back started between `first` and `last`
    and is no longer stored (it was just deleted)."""
    m, c = MISSED.c, CALLS.c
    return list(session.execute(select(m.call_id).where(
        m.organization_id == organization_id, m.callback_at >= first, m.callback_at <= last,
        ~select(c.id).where(c.id == m.callback_call_id).exists())).scalars())


def lead_rows(session, organization_id: int, start: datetime, end: datetime,
              owner_ids: Iterable[int] | None = None) -> list:
    """Leads created between `start` and `end` (exclusive): (owner_id,
    source, status, created_at, answered_from, first_response_at), where
    the first response is the first outgoing call with the lead's number at
    or after `answered_from` (its first call, else its creation)."""
    c, lead = CALLS.c, Lead.__table__.c
    answered_from = func.coalesce(lead.first_call_at, lead.created_at)
    first_response = (select(func.min(c.started_at)).where(
        c.organization_id == organization_id, c.e164 == lead.phone, c.call_type == int(CallType.OUTGOING),
        c.started_at >= answered_from).scalar_subquery())
    query = select(lead.owner_id, lead.source, lead.status, lead.created_at, answered_from.label("answered_from"),
                   first_response.label("first_response_at")).where(
        lead.organization_id == organization_id, lead.created_at >= start, lead.created_at < end)
    if owner_ids is not None:
        query = query.where(among(session, lead.owner_id, list(owner_ids)))
    return session.execute(query.execution_options(all_organizations=True)).all()


_MISSED_SET = ("callback_call_id", "callback_at", "day", "user_id")
_DAY_SET = (*DAY_FIGURES, "numbers", "callbacks")


class _RollupStatements:
    """The generic upserts: executemany (SQLite runs in process: no round trips to save)."""

    def write_call_days(self, session, organization_id: int, rows: list[dict]) -> None:
        statement = upsert(session, DAYS)
        statement = statement.on_conflict_do_update(
            index_elements=["organization_id", "day", "user_id"],
            set_={name: statement.excluded[name] for name in _DAY_SET})
        session.execute(statement, [{**row, "organization_id": organization_id} for row in rows])

    def write_missed(self, session, organization_id: int, rows: list[dict]) -> None:
        statement = upsert(session, MISSED)
        statement = statement.on_conflict_do_update(
            index_elements=["call_id"], set_={name: statement.excluded[name] for name in _MISSED_SET},
            where=MISSED.c.organization_id == statement.excluded.organization_id)  # never another's row
        session.execute(statement, [{**row, "organization_id": organization_id} for row in rows])


def _recordset_upsert(table, key: tuple[str, ...], types: dict[str, str], updated: tuple[str, ...],
                      guard: str = "") -> str:
    """INSERT ... SELECT FROM json_to_recordset(:rows) ON CONFLICT DO UPDATE:
    one statement of constant text a batch (bytes travel as hex)."""
    columns = ("organization_id", *types)
    values = ", ".join(f"decode(r.{name}, 'hex')" if kind == "bytea" else f"r.{name}" for name, kind in types.items())
    record = ", ".join(f"{name} {'text' if kind == 'bytea' else kind}" for name, kind in types.items())
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT :org, {values} "
            f"FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{name} = EXCLUDED.{name}" for name in updated) + guard)


class _PostgresRollupStatements(_RollupStatements):
    """One JSON document a batch: SQLAlchemy's multi-row INSERT for each
    batch was re-read by the driver every time (its text differs with the
    number of rows), most of the processing hook's cost."""

    _days = text(_recordset_upsert(
        "report_call_days", ("organization_id", "day", "user_id"),
        {"day": "date", "user_id": "integer", **{name: "integer" for name in DAY_FIGURES},
         "numbers": "bytea", "callbacks": "bytea"}, _DAY_SET))
    _missed = text(_recordset_upsert(
        "report_missed_calls", ("call_id",),
        {"call_id": "integer", "user_id": "integer", "day": "date", "started_at": "timestamptz",
         "callback_call_id": "integer", "callback_at": "timestamptz"}, _MISSED_SET,
        " WHERE report_missed_calls.organization_id = EXCLUDED.organization_id"))

    def write_call_days(self, session, organization_id: int, rows: list[dict]) -> None:
        session.execute(self._days, {"org": organization_id, "rows": orjson.dumps(
            rows, default=_hex).decode()})

    def write_missed(self, session, organization_id: int, rows: list[dict]) -> None:
        session.execute(self._missed, {"org": organization_id, "rows": orjson.dumps(rows).decode()})


def _hex(value):
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


_statements = per_engine(_RollupStatements, _PostgresRollupStatements)


# The deletion hook.
_DELETED: list[Callable[[Session, list[DeletedSpan]], None]] = []


def on_calls_deleted(callback: Callable[[Session, list[DeletedSpan]], None]) -> None:
    """Call `callback(session, spans)` after every deletion of calls."""
    if callback not in _DELETED:
        _DELETED.append(callback)


@event.listens_for(Session, "do_orm_execute")
def _follow_call_deletions(state):
    if not (state.is_delete and _DELETED and getattr(getattr(state.statement, "table", None), "name", None)
            == CALLS.name):
        return None
    c = CALLS.c
    where = state.statement.whereclause
    span_query = select(c.organization_id, c.user_id, func.min(c.started_at), func.max(c.started_at)) \
        .group_by(c.organization_id, c.user_id).execution_options(all_organizations=True)
    if where is not None:
        span_query = span_query.where(where)
    spans = [DeletedSpan(*row) for row in state.session.execute(span_query)]
    result = state.invoke_statement()
    if spans:
        for callback in _DELETED:
            callback(state.session, spans)
    return result
