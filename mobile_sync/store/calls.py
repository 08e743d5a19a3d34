"""Stored calls: inserting an upload's rows exactly once, reading them for
processing, and matching them to records, set-wise. Every function takes the
organisation whose calls it touches.

A call's identity is (device, Android `_id`, `date`): rows are inserted with
ON CONFLICT DO NOTHING against that unique key, so a retried or concurrent
copy of a batch stores each call once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import msgspec
from sqlalchemy import DateTime, and_, bindparam, case, func, select, text, type_coerce, update

from mobile_sync.call_rows import CallRow
from mobile_sync.record_kinds import CALL_RECORDS, rank_of
from mobile_sync.store.bulk_sql import upsert
from mobile_sync.store.dialect import per_engine
from mobile_sync.store.models import Call, RecordPhone
from mobile_sync.store.models.base import UTCDateTime


CALLS = Call.__table__
_PHONES = RecordPhone.__table__


@dataclass(slots=True)
class CallFacts:
    """What processing needs of one stored call (read with Core, not the ORM)."""

    id: int
    user_id: int
    device_id: int
    e164: str | None
    number_status: str
    call_type: int
    duration_s: int
    started_at: datetime
    cached_name: str | None
    via_e164: str | None
    outcome: str | None = None
    record_type: str | None = None
    record_id: int | None = None

    @classmethod
    def columns(cls):
        c = CALLS.c
        return (c.id, c.user_id, c.device_id, c.e164, c.number_status, c.call_type, c.duration_s, c.started_at,
                c.cached_name, c.via_e164)


# Columns the same for a whole batch; the others are `CallRow`'s fields.
_PER_BATCH = ("organization_id", "device_id", "user_id", "upload_id", "created_at")
_ENCODER = msgspec.json.Encoder()


def _to_datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)


class _CallStatements:
    """The generic forms (SQLite: in process, no round trips to save)."""

    facts_columns = CallFacts.columns()

    def insert_new_calls(self, session, rows: list[CallRow], shared: dict) -> int:
        statement = upsert(session, Call).on_conflict_do_nothing(
            index_elements=["device_id", "android_id", "date_ms"]).returning(Call.id)
        asdict = msgspec.structs.asdict
        return len(session.execute(statement, [{**asdict(row), **shared, "started_at": _to_datetime(row.date_ms)}
                                               for row in rows]).all())


class _PostgresCallStatements(_CallStatements):
    # The start time as the driver reads it (aware, in UTC: the store's
    # sessions are): `UTCDateTime`'s conversion of each, a call at a time,
    # was a third of processing.
    facts_columns = tuple(type_coerce(column, DateTime(timezone=True)).label("started_at")
                          if column is CALLS.c.started_at else column for column in CallFacts.columns())

    def __init__(self):
        self._insert = None

    def _insert_statement(self, session):
        """INSERT ... SELECT FROM json_to_recordset(the batch's `CallRow`s as
        one JSON array, under Android's names) ON CONFLICT DO NOTHING: one
        statement and one round trip a batch.

        Per 1,000 rows this costs the web process about 5 ms of CPU, against
        16 ms for one array parameter per column and 270-320 ms for
        SQLAlchemy's multi-row VALUES with RETURNING (measured on PostgreSQL
        15); of it, msgspec encodes the rows, as text, in ~0.3 ms. The start
        time is computed from `date` (epoch ms) by PostgreSQL, exactly."""
        if self._insert is None:
            dialect = session.get_bind().dialect

            def sql_type(column: str) -> str:
                return CALLS.c[column].type.compile(dialect=dialect)

            fields = msgspec.structs.fields(CallRow)
            columns = ", ".join(_PER_BATCH + tuple(f.name for f in fields))
            shared = ", ".join(f"CAST(:{c} AS {sql_type(c)})" for c in _PER_BATCH)
            per_row = ", ".join(f'r."{f.encode_name}"' for f in fields)
            record = ", ".join(f'"{f.encode_name}" {sql_type(f.name)}' for f in fields)
            self._insert = text(
                f"INSERT INTO {CALLS.name} ({columns}, started_at) SELECT {shared}, {per_row}, "
                """TIMESTAMPTZ 'epoch' + r."date" * INTERVAL '1 millisecond' """
                f"FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
                "ON CONFLICT (device_id, android_id, date_ms) DO NOTHING")
        return self._insert

    def insert_new_calls(self, session, rows: list[CallRow], shared: dict) -> int:
        return session.execute(self._insert_statement(session),
                               {**shared, "rows": _ENCODER.encode(rows).decode()}).rowcount


_statements = per_engine(_CallStatements, _PostgresCallStatements)


def insert_new_calls(session, organization_id: int, rows: list[CallRow], shared: dict) -> int:
    """Insert call rows of the organisation, skipping any whose identity is
    already stored (a retry, or a concurrent copy of the batch); return how
    many were inserted. `shared` holds the columns every row has in common
    (device, user, upload, creation time)."""
    if not rows:
        return 0
    return _statements(session).insert_new_calls(session, rows, {**shared, "organization_id": organization_id})


def load_calls(session, organization_id: int, *conditions) -> list[CallFacts]:
    """The organisation's calls matching `conditions` (on `CALLS.c`), in call
    order, as CallFacts. Core, not the ORM: the ORM's result set-up was a
    fifth of the cost of reading a batch."""
    c = CALLS.c
    rows = session.execute(select(*_statements(session).facts_columns, c.outcome, c.record_type, c.record_id)
                           .where(c.organization_id == organization_id, *conditions)
                           .order_by(c.started_at, c.id)).all()
    return [CallFacts(*row) for row in rows]


# Matching, set-wise, for every call of a run's uploads at once: a number held
# by exactly one record of the best kind (`record_kinds.PRECEDENCE`) links the
# call to it; held by several records of that kind (a switchboard) the call is
# `shared_number` and linked to none of them. Per call, by index probes into
# the phone index: scalar subqueries, which PostgreSQL runs per row on
# (organization_id, e164). As joins (a CTE, or an EXISTS it turns into a
# semi-join), statistics that lag a growing table made it compare every call
# with every indexed number: 0.4-0.5 s a batch.
def _held(alias):
    return and_(alias.c.organization_id == bindparam("org"), alias.c.e164 == CALLS.c.e164,
                alias.c.record_type.in_(CALL_RECORDS))


def _matching_statements():
    c = CALLS.c
    phones, best, held = _PHONES.alias("rp"), _PHONES.alias("best"), _PHONES.alias("held")
    # Correlated with the call being updated, through every level of nesting.
    best_rank = select(func.min(rank_of(best.c.record_type))).where(_held(best)).correlate(CALLS).scalar_subquery()
    holders = func.count(phones.c.record_id.distinct())
    by_best_kind = (phones.c.organization_id == bindparam("org"), phones.c.e164 == c.e164,
                    rank_of(phones.c.record_type) == best_rank)
    one_holder = holders == 1

    def of_best_kind(expression):
        return select(expression).where(*by_best_kind).correlate(CALLS).scalar_subquery()

    now = bindparam("now", type_=UTCDateTime)
    unmatched = (c.organization_id == bindparam("org"), c.upload_id.in_(bindparam("uploads", expanding=True)),
                 c.processed_at.is_(None))
    not_matchable = update(CALLS).where(*unmatched, c.e164.is_(None)).values(
        outcome="not_matchable:" + c.number_status, processed_at=now)
    outcome = case((holders > 1, "shared_number"), else_="matched_" + func.min(phones.c.record_type))
    matched = update(CALLS).where(
        *unmatched, c.e164.is_not(None),
        select(func.min(rank_of(held.c.record_type))).where(_held(held)).correlate(CALLS).scalar_subquery()
        .is_not(None),
    ).values(
        outcome=of_best_kind(outcome),
        record_type=of_best_kind(case((one_holder, func.min(phones.c.record_type)))),
        record_id=of_best_kind(case((one_holder, func.min(phones.c.record_id)))),
        processed_at=now)
    return not_matchable, matched


_MARK_NOT_MATCHABLE, _MARK_MATCHED = _matching_statements()


def mark_known_calls(session, organization_id: int, upload_ids: list[int], now: datetime) -> int:
    """Set the outcome of every call of the uploads whose number is not
    matchable or is in the phone index; return how many. The calls left
    (processed_at still NULL) are the unmatched ones, for the lead rules."""
    params = {"uploads": list(upload_ids), "org": organization_id, "now": now}
    return (session.execute(_MARK_NOT_MATCHABLE, params).rowcount
            + session.execute(_MARK_MATCHED, params).rowcount)


def relink_calls(session, organization_id: int, from_type: str, from_id: int, to_type: str, to_id: int) -> int:
    """Point every call of one record at another (used by merges)."""
    return session.execute(
        update(Call).where(Call.organization_id == organization_id, Call.record_type == from_type,
                           Call.record_id == from_id).values(record_type=to_type, record_id=to_id)
    ).rowcount
