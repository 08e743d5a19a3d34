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
from sqlalchemy import DateTime, bindparam, literal_column, select, text, type_coerce, update

from mobile_sync.call_rows import CallRow
from mobile_sync.record_kinds import CALL_RECORDS, rank_of
from mobile_sync.store.bulk_sql import upsert
from mobile_sync.store.dialect import per_engine
from mobile_sync.store.models import Call
from mobile_sync.store.models.base import UTCDateTime


CALLS = Call.__table__


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
def _rank_sql(alias: str) -> str:
    """`record_kinds.rank_of` of an alias's record type, as SQL text."""
    return str(rank_of(literal_column(f"{alias}.record_type")).compile(compile_kwargs={"literal_binds": True}))


_KINDS = ", ".join(f"'{kind}'" for kind in CALL_RECORDS)
_HELD = ("FROM record_phones AS {a} WHERE {a}.organization_id = :org AND {a}.e164 = calls.e164 "
         f"AND {{a}}.record_type IN ({_KINDS})")
_MARK_NOT_MATCHABLE = text("""
UPDATE calls SET outcome = 'not_matchable:' || number_status, processed_at = :now
WHERE organization_id = :org AND upload_id IN :uploads AND processed_at IS NULL AND e164 IS NULL
""").bindparams(bindparam("now", type_=UTCDateTime), bindparam("uploads", expanding=True))
# One subquery sets the three columns (a row value, on both databases): three
# subqueries, one per column, took 2-3 times as long on PostgreSQL. "Is the
# number held" is a scalar subquery, not EXISTS, which PostgreSQL turns into
# a semi-join (see above).
_MARK_MATCHED = text(f"""
UPDATE calls SET (outcome, record_type, record_id, processed_at) = (
  SELECT CASE WHEN count(DISTINCT rp.record_id) > 1 THEN 'shared_number' ELSE 'matched_' || min(rp.record_type) END,
         CASE WHEN count(DISTINCT rp.record_id) = 1 THEN min(rp.record_type) END,
         CASE WHEN count(DISTINCT rp.record_id) = 1 THEN min(rp.record_id) END,
         :now
  {_HELD.format(a="rp")} AND {_rank_sql("rp")} = (SELECT min({_rank_sql("best")}) {_HELD.format(a="best")}))
WHERE calls.organization_id = :org AND calls.upload_id IN :uploads AND calls.processed_at IS NULL
  AND calls.e164 IS NOT NULL AND (SELECT min(held.record_type) {_HELD.format(a="held")}) IS NOT NULL
""").bindparams(bindparam("now", type_=UTCDateTime), bindparam("uploads", expanding=True))




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
