"""The statements of `report_missed_calls` (one row per processed missed
call and the call that returned it), each scoped by organisation (the
leads report's are in `lead_figures`). Generic Core, but for the upsert (one JSON
document on PostgreSQL)."""
from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime, timezone

import orjson
from sqlalchemy import Index, and_, bindparam, func, literal_column, or_, select, text

from mobile_sync.call_types import CallType
from mobile_sync.store.bulk_sql import among, driver_rows, one_of, upsert
from mobile_sync.store.dialect import on_postgresql, per_engine
from mobile_sync.store.models import Call
from mobile_sync.store.models.reports import MissedCallback
from mobile_sync.store.packed_rows import day_range, day_rows_deletion, recordset_upsert

CALLS = Call.__table__
MISSED = MissedCallback.__table__
MISSED_COLUMNS = ("call_id", "user_id", "day", "started_at", "number", "callback_call_id", "callback_at")


def _returns(missed, later):
    """`later` returns the call `missed`: the same number, after it, outgoing
    or connected (an answered incoming call that lasted)."""
    # `started_at >=` first: a range of the index (organisation, number, start).
    return and_(later.c.organization_id == missed.c.organization_id, later.c.e164 == missed.c.e164,
                later.c.started_at >= missed.c.started_at,
                or_(later.c.started_at > missed.c.started_at, later.c.id > missed.c.id),
                or_(later.c.call_type == int(CallType.OUTGOING),
                    and_(later.c.call_type == int(CallType.INCOMING), later.c.duration_s > 0)))


def find_callbacks(session, organization_id: int, call_ids: list[int]) -> dict[int, tuple[int, datetime]]:
    """For each of the organisation's calls given (missed ones), the first
    call that returned it: {call id: (callback id, its start)}; unreturned
    calls are absent. One index probe (organisation, number) per call."""
    if not call_ids:
        return {}
    postgresql = on_postgresql(session)
    if postgresql not in _CALLBACKS:
        _CALLBACKS[postgresql] = _callbacks_statement(postgresql)
    found = {}
    for start in range(0, len(call_ids), 5000):
        rows = driver_rows(session.connection(), _CALLBACKS[postgresql], {
            "org": organization_id, "ids": list(call_ids[start:start + 5000])})
        found.update({row[0]: (row[1], row[2]) for row in rows})
    return found


_CALLBACKS: dict = {}


def _callbacks_statement(postgresql: bool):
    """`find_callbacks`' statement, built once per kind of database (the
    aliases cost ~2 ms of CPU to build each time)."""
    missed, later = CALLS.alias("missed"), CALLS.alias("later")
    first = (select(later.c.id).where(_returns(missed, later))
             .order_by(later.c.started_at, later.c.id).limit(1).scalar_subquery())
    callback = CALLS.alias("callback")
    return (select(missed.c.id, callback.c.id, callback.c.started_at).select_from(missed)
            .join(callback, callback.c.id == first)
            .where(missed.c.organization_id == bindparam("org"), missed.c.e164.is_not(None),
                   one_of(missed.c.id, "ids", postgresql)))


def write_missed(session, organization_id: int, rows: list[dict]) -> None:
    """Insert or replace missed-call rows (MISSED_COLUMNS) of the
    organisation; a row of another organisation's call is left as it is."""
    if rows:
        _statements(session).write_missed(session, organization_id, rows)


def _columns():
    m = MISSED.c
    return [m[name] for name in MISSED_COLUMNS]


def missed_rows(session, organization_id: int, *, user_id: int | None = None, first: date | None = None,
                last: date | None = None, call_ids: list[int] | None = None) -> list:
    """Missed-call rows (MISSED_COLUMNS)."""
    query = select(*_columns()).where(*day_range(MISSED, organization_id, user_id, first, last))
    if call_ids is not None:
        query = query.where(among(session, MISSED.c.call_id, call_ids))
    return session.execute(query).all()


def delete_missed(session, organization_id: int, user_id: int | None = None, first: date | None = None,
                  last: date | None = None) -> int:
    """Remove the organisation's missed-call rows (of one user, between two days)."""
    return session.execute(day_rows_deletion(MISSED, organization_id, user_id, first, last)).rowcount


MissedRow = namedtuple("MissedRow", MISSED_COLUMNS)
# The missed calls a new call with a number may return sooner: unreturned,
# or returned at or after it. Unreturned rows key as returned at 'infinity'
# here, so both are one range of this index a number, one probe (the index
# (organisation, number, call back time) took two: its NULLs and the times
# after, ~600 pages read from outside shared buffers a run at 10M calls,
# then ~670 probes more). Declared here, with the statement that reads it
# (revision a1f2e3d4c5b6); the missed calls report reads `report_call_days`.
UNTIL_RETURNED = Index(
    "ix_report_missed_calls_org_number_open", MISSED.c.organization_id, MISSED.c.number,
    func.coalesce(MISSED.c.callback_at, literal_column("'infinity'")).label("returned_at"))
# The spans travel as three arrays in text (the times as microseconds since
# the epoch): PostgreSQL parses 1,300 JSON timestamps in ~5 ms, integers in far less.
_RETURNABLE = text(
    "WITH s AS MATERIALIZED (SELECT number, timestamptz 'epoch' + earliest * interval '1 microsecond' AS earliest, "
    "timestamptz 'epoch' + latest * interval '1 microsecond' AS latest "
    "FROM unnest(CAST(string_to_array(:numbers, ',') AS bigint[]), CAST(string_to_array(:earliest, ',') AS bigint[]), "
    "CAST(string_to_array(:latest, ',') AS bigint[])) AS s(number, earliest, latest)) "
    f"SELECT {', '.join('m.' + name for name in MISSED_COLUMNS)} FROM s JOIN report_missed_calls AS m "
    "ON m.organization_id = :org AND m.number = s.number "
    "AND coalesce(m.callback_at, 'infinity') >= s.earliest WHERE m.started_at <= s.latest")


def missed_returnable_by(session, organization_id: int, spans: dict[int, tuple[datetime, datetime]]) -> list:
    """Missed-call rows (MISSED_COLUMNS) that calls with these numbers (keys,
    as `numbers`; each with its earliest and latest call) may return sooner
    than what returns them now: missed before the latest call, unreturned
    or returned after the earliest. One statement (PostgreSQL: one probe a
    number of `UNTIL_RETURNED`; elsewhere per 5,000 numbers, filtered here)."""
    if not spans:
        return []
    if on_postgresql(session):
        numbers = sorted(spans)  # the index probes in the index's order
        return [MissedRow(*row) for row in driver_rows(session.connection(), _RETURNABLE, {
            "org": organization_id, "numbers": ",".join(map(str, numbers)),
            "earliest": ",".join(str(_micros(spans[number][0])) for number in numbers),
            "latest": ",".join(str(_micros(spans[number][1])) for number in numbers)}, prepare=False)]
    m = MISSED.c
    found = []
    numbers = sorted(spans)
    for start in range(0, len(numbers), 5000):
        chunk = numbers[start:start + 5000]
        rows = session.execute(select(*_columns()).where(
            m.organization_id == organization_id, among(session, m.number, chunk)))
        found.extend(row for row in rows if row.started_at <= spans[row.number][1]
                     and (row.callback_at is None or row.callback_at >= spans[row.number][0]))
    return found


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (integer arithmetic)."""
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def missed_with_lost_callbacks(session, organization_id: int, first: datetime, last: datetime) -> list[int]:
    """Missed-call rows whose call back started between `first` and `last`
    and is no longer stored (it was just deleted)."""
    m, c = MISSED.c, CALLS.c
    return list(session.execute(select(m.call_id).where(
        m.organization_id == organization_id, m.callback_at >= first, m.callback_at <= last,
        ~select(c.id).where(c.id == m.callback_call_id).exists())).scalars())


_MISSED_SET = ("callback_call_id", "callback_at", "day", "user_id", "number")


class _MissedStatements:
    def write_missed(self, session, organization_id: int, rows: list[dict]) -> None:
        statement = upsert(session, MISSED)
        statement = statement.on_conflict_do_update(
            index_elements=["call_id"], set_={name: statement.excluded[name] for name in _MISSED_SET},
            where=MISSED.c.organization_id == statement.excluded.organization_id)  # never another's row
        session.execute(statement, [{**row, "organization_id": organization_id} for row in rows])


class _PostgresMissedStatements(_MissedStatements):
    _missed = text(recordset_upsert(
        "report_missed_calls", ("call_id",),
        {"call_id": "integer", "user_id": "integer", "day": "date", "started_at": "timestamptz",
         "number": "bigint", "callback_call_id": "integer", "callback_at": "timestamptz"}, _MISSED_SET,
        " WHERE report_missed_calls.organization_id = EXCLUDED.organization_id"))

    def write_missed(self, session, organization_id: int, rows: list[dict]) -> None:
        session.execute(self._missed, {"org": organization_id, "rows": orjson.dumps(rows).decode()})


_statements = per_engine(_MissedStatements, _PostgresMissedStatements)
