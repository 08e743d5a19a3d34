"""Set-wise statements for batch processing: one parameter per batch, not
one per value.

An `IN (...)` over a thousand values costs SQLAlchemy and psycopg ~40 µs of
CPU a value (a bind parameter each, and a statement text too long for
psycopg's parse cache); a thousand single-row UPDATEs cost a round trip
each. On PostgreSQL (`_PostgresBulkSQL`, chosen once per engine) these send
the values as one array or one JSON document instead; the generic forms
(`_BulkSQL`, what SQLite runs: in process, no round trips) stay plain.

Also here: `driver_rows`, the way the ringing path's few prebuilt statements
reach the database with the least CPU.
"""
from __future__ import annotations

import orjson
from psycopg.pq import ExecStatus
from psycopg.types.json import Json
from sqlalchemy import Text, all_, any_, bindparam, cast, func, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from mobile_sync.store.dialect import per_engine


def json_rows(rows: list[dict]) -> str:
    """Rows as one JSON document (orjson: datetimes as RFC 3339, ~10x json's speed)."""
    return orjson.dumps(rows).decode()


def _pg_array(column, values: list):
    """The values as one PostgreSQL array parameter of the column's type:
    sent as one comma-joined string (psycopg dumps a list element by element
    in Python: ~1 µs each, most of a look-up over 500 number hashes)."""
    texts = [str(value) for value in values]
    if any("," in value for value in texts):
        return bindparam(None, values, type_=ARRAY(column.type))
    return cast(func.string_to_array(bindparam(None, ",".join(texts), type_=Text), ","), ARRAY(column.type))


class _BulkSQL:
    """The generic forms: plain SQLAlchemy."""

    def upsert(self, table):
        """An INSERT that knows ON CONFLICT (SQLite's flavour)."""
        return sqlite.insert(table)

    def among(self, column, values: list):
        return column.in_(values)

    def not_among(self, column, values: list):
        return column.not_in(values)

    def update_rows(self, session, table, rows: list[dict], columns: dict[str, str]) -> None:
        statement = (update(table).where(table.c.id == bindparam("_id"))
                     .values({name: bindparam(f"_{name}") for name in columns}))
        session.connection().execute(statement, [{f"_{k}": v for k, v in row.items()} for row in rows])

    def insert_rows(self, session, table, rows, skip_conflicts_on, returning) -> list[tuple]:
        statement = insert(table)
        if skip_conflicts_on:
            statement = self.upsert(table).on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
        if returning:
            statement = statement.returning(*(table.c[name] for name in returning))
            return [tuple(row) for row in session.connection().execute(statement, rows)]
        session.connection().execute(statement, rows)
        return []

    def plan_for_each_batch(self, session) -> None:
        pass

    def ephemeral_commit(self, session) -> None:
        pass  # SQLite: every commit waits for the disk (there is one writer anyway)

    def rows(self, connection, statement, params: dict, prepare: bool | None) -> list[tuple]:
        result = connection.execute(statement, params)
        return [tuple(row) for row in result] if result.returns_rows else []


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
_CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


class _PostgresBulkSQL(_BulkSQL):
    """Values as one array or one JSON document; prebuilt statements straight to psycopg."""

    def __init__(self):
        self._compiled: dict = {}

    def upsert(self, table):
        return postgresql.insert(table)

    def among(self, column, values: list):
        return column == any_(_pg_array(column, values))

    def not_among(self, column, values: list):
        return column != all_(_pg_array(column, values))

    def update_rows(self, session, table, rows, columns) -> None:
        spec = ", ".join(f"{name} {sql_type}" for name, sql_type in {"id": "integer", **columns}.items())
        sets = ", ".join(f"{name} = v.{name}" for name in columns)
        session.execute(text(f"UPDATE {table.name} AS t SET {sets} "
                             f"FROM json_to_recordset(CAST(:rows AS json)) AS v({spec}) WHERE t.id = v.id"),
                        {"rows": json_rows(rows)})

    def insert_rows(self, session, table, rows, skip_conflicts_on, returning) -> list[tuple]:
        # The columns inserted are the first row's keys.
        columns = ", ".join(rows[0])
        sql = (f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
               f"FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))")
        if skip_conflicts_on:
            sql += f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(returning)}"
        result = session.execute(text(sql), {"rows": json_rows(rows)})
        return [tuple(row) for row in result] if returning else []

    def plan_for_each_batch(self, session) -> None:
        session.connection().exec_driver_sql(_CUSTOM_PLANS)

    def ephemeral_commit(self, session) -> None:
        self.rows(session.connection(), _ASYNC_COMMIT, {}, None)

    def rows(self, connection, statement, params: dict, prepare: bool | None) -> list[tuple]:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = statement.compile(dialect=connection.dialect)
            compiled = self._compiled[statement] = (str(compiled), dict(compiled.params))
        sql, defaults = compiled
        params = {**defaults, **params} if defaults else params
        if any(type(value) is dict for value in params.values()):
            params = {key: Json(value) if type(value) is dict else value for key, value in params.items()}
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql, params, prepare=prepare)
            # `pgresult.status`, not `description`: that builds a Column per column (~40 us for the look-up's 12).
            result = cursor.pgresult
            return cursor.fetchall() if result is not None and result.status == ExecStatus.TUPLES_OK else []
        finally:
            cursor.close()


_sql = per_engine(_BulkSQL, _PostgresBulkSQL)


def upsert(session, table):
    """INSERT ... for the session's database, with `on_conflict_do_nothing`
    and `on_conflict_do_update` (PostgreSQL's or SQLite's flavour)."""
    return _sql(session).upsert(table)


def among(session, column, values):
    """`column IN values`, as `column = ANY(:array)` on PostgreSQL."""
    return _sql(session).among(column, list(values))


def not_among(session, column, values):
    """`column NOT IN values`, as `column <> ALL(:array)` on PostgreSQL."""
    return _sql(session).not_among(column, list(values))


def update_rows(session, table, rows: list[dict], columns: dict[str, str]) -> None:
    """Set `columns` of each row of `table` identified by `id`, in one statement.

    `columns` maps a column name to its PostgreSQL type (for the JSON record
    definition). Rows must all carry `id` and every column named.
    """
    if rows:
        _sql(session).update_rows(session, table, rows, columns)


def insert_rows(session, table, rows: list[dict], *, skip_conflicts_on: tuple[str, ...] | None = None,
                returning: tuple[str, ...] | None = None) -> list[tuple]:
    """INSERT every row in one statement; with `skip_conflicts_on`, rows that
    would break that unique key are skipped (ON CONFLICT DO NOTHING); return
    the `returning` columns of the rows inserted.

    On PostgreSQL the rows travel as one JSON document read by
    `json_populate_recordset`; the columns inserted are the first row's keys.
    """
    if not rows:
        return []
    return _sql(session).insert_rows(session, table, rows, skip_conflicts_on, returning)


def one_of(column, name: str, on_postgresql: bool):
    """`column IN :name` for a prebuilt statement taking a list: on PostgreSQL
    `= ANY(CAST(:name AS type[]))`, one array `driver_rows` passes as it is
    (an expanding IN cannot be compiled once); elsewhere an expanding IN.
    Build the statement once per kind of database: `{pg: ... for pg in (False, True)}`."""
    if on_postgresql:
        return column == any_(cast(bindparam(name), ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def plan_for_each_batch(session) -> None:
    """For the rest of the transaction, have PostgreSQL plan each statement
    for its actual parameters. Once psycopg prepares a statement taking a
    whole array (`= ANY(:values)`), the generic plan probes an index per
    value (25 ms for 1,000 numbers) where a plan made for the actual array
    scans an organisation's few rows (2 ms).

    It also re-plans the foreign-key checks of every row the transaction
    inserts: 2.7x the statement time of inserting 1,000 calls (four foreign
    keys). So it is for processing runs, which insert little; a single
    statement that needs it goes unprepared instead (`driver_rows(...,
    prepare=False)`)."""
    _sql(session).plan_for_each_batch(session)


def ephemeral_commit(session) -> None:
    """Let this transaction's commit return before its WAL reaches the disk
    (PostgreSQL's `synchronous_commit = off`, for this transaction only).

    For records that are worth nothing a few seconds later — a ringing push —
    and sit on a path someone is waiting on. A database crash can lose the
    last fraction of a second of such commits (never corrupt anything); every
    other transaction still waits for its flush."""
    _sql(session).ephemeral_commit(session)


def driver_rows(connection, statement, params: dict, *, prepare: bool | None = None) -> list[tuple]:
    """Run a prebuilt statement and return its rows as tuples (none for a
    statement without results). On PostgreSQL it goes straight to the
    driver's cursor; elsewhere through SQLAlchemy as usual.

    For the few statements on the ringing path: SQLAlchemy's execution and
    result layers cost more CPU than the statement (0.2-0.5 ms each). The SQL
    is compiled once per statement; literal values it holds (`.values(status=
    "sending")`) travel with it. No type conversion happens on the way: pass
    what psycopg adapts itself (ints, strings, aware datetimes) and read what
    it returns (aware datetimes, parsed JSON; the store's sessions run in
    UTC); a dict goes as JSON. Errors are the driver's own.

    `prepare=False`: never a prepared statement, so PostgreSQL plans every
    run for its actual values (psycopg prepares a statement on its fifth run,
    and a generic plan for `= ANY(:array)` probes the index once per value)."""
    return _sql(connection).rows(connection, statement, params, prepare)


__all__ = ["among", "driver_rows", "ephemeral_commit", "insert_rows", "json_rows", "not_among",
           "one_of", "plan_for_each_batch", "update_rows", "upsert"]
