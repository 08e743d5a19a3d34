"""Set-wise statements for batch processing: one parameter per batch, not
one per value.

An `IN (...)` over a thousand values costs SQLAlchemy and psycopg ~40 µs of
CPU a value (a bind parameter each, and a statement text too long for
psycopg's parse cache); a thousand single-row UPDATEs cost a round trip
each. On PostgreSQL these helpers send the values as one array or one JSON
document instead; SQLite (in process, no round trips) keeps the plain forms.
"""
from __future__ import annotations

import orjson
from psycopg.pq import ExecStatus
from psycopg.types.json import Json
from sqlalchemy import Text, all_, any_, bindparam, cast, func, insert, text, update
from sqlalchemy.dialects.postgresql import ARRAY


def is_postgresql(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _pg_array(column, values: list):
    """The values as one PostgreSQL array parameter of the column's type:
    sent as one comma-joined string (psycopg dumps a list element by element
    in Python: ~1 µs each, most of a look-up over 500 number hashes)."""
    texts = [str(value) for value in values]
    if any("," in value for value in texts):
        return bindparam(None, values, type_=ARRAY(column.type))
    return cast(func.string_to_array(bindparam(None, ",".join(texts), type_=Text), ","), ARRAY(column.type))


def among(session, column, values):
    """`column IN values`, as `column = ANY(:array)` on PostgreSQL."""
    values = list(values)
    if is_postgresql(session):
        return column == any_(_pg_array(column, values))
    return column.in_(values)


def json_rows(rows: list[dict]) -> str:
    """Rows as one JSON document (orjson: datetimes as RFC 3339, ~10x json's speed)."""
    return orjson.dumps(rows).decode()


def update_rows(session, table, rows: list[dict], columns: dict[str, str]) -> None:
    """Set `columns` of each row of `table` identified by `id`, in one statement.

    `columns` maps a column name to its PostgreSQL type (for the JSON record
    definition). Rows must all carry `id` and every column named.
    """
    if not rows:
        return
    if is_postgresql(session):
        spec = ", ".join(f"{name} {sql_type}" for name, sql_type in {"id": "integer", **columns}.items())
        sets = ", ".join(f"{name} = v.{name}" for name in columns)
        session.execute(text(f"UPDATE {table.name} AS t SET {sets} "
                             f"FROM json_to_recordset(CAST(:rows AS json)) AS v({spec}) WHERE t.id = v.id"),
                        {"rows": json_rows(rows)})
        return
    statement = (update(table).where(table.c.id == bindparam("_id"))
                 .values({name: bindparam(f"_{name}") for name in columns}))
    session.connection().execute(statement, [{f"_{k}": v for k, v in row.items()} for row in rows])


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
    if is_postgresql(session):
        columns = ", ".join(rows[0])
        sql = (f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
               f"FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))")
        if skip_conflicts_on:
            sql += f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(returning)}"
        result = session.execute(text(sql), {"rows": json_rows(rows)})
        return [tuple(row) for row in result] if returning else []
    statement = insert(table)
    if skip_conflicts_on:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
        return [tuple(row) for row in session.connection().execute(statement, rows)]
    session.connection().execute(statement, rows)
    return []


def one_of(column, name: str, on_postgresql: bool):
    """`column IN :name` for a prebuilt statement taking a list: on PostgreSQL
    `= ANY(CAST(:name AS type[]))`, one array `driver_rows` passes as it is
    (an expanding IN cannot be compiled once); elsewhere an expanding IN.
    Build the statement once per kind of database: `{pg: ... for pg in (False, True)}`."""
    if on_postgresql:
        return column == any_(cast(bindparam(name), ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def not_among(session, column, values):
    """`column NOT IN values`, as `column <> ALL(:array)` on PostgreSQL."""
    values = list(values)
    if is_postgresql(session):
        return column != all_(_pg_array(column, values))
    return column.not_in(values)


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
    if is_postgresql(session):
        session.connection().exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")


def ephemeral_commit(session) -> None:
    """Let this transaction's commit return before its WAL reaches the disk
    (PostgreSQL's `synchronous_commit = off`, for this transaction only).

    For records that are worth nothing a few seconds later — a ringing push —
    and sit on a path someone is waiting on. A database crash can lose the
    last fraction of a second of such commits (never corrupt anything); every
    other transaction still waits for its flush."""
    if is_postgresql(session):
        driver_rows(session.connection(), _ASYNC_COMMIT, {})


_DRIVER_SQL: dict = {}


def driver_rows(connection, statement, params: dict, *, prepare: bool | None = None) -> list[tuple]:
    """Run a prebuilt statement and return its rows as tuples (none for a
    statement without results). On PostgreSQL it goes straight to the
    driver's cursor; elsewhere through SQLAlchemy as usual.

    For the few statements on the ringing path: SQLAlchemy's execution and
    result layers cost more CPU than the statement (0.2-0.5 ms each). The SQL
    is compiled once per statement; literal values it holds (`.values(status=
    "sending")`) travel with it. No type conversion happens on the way: pass
    what psycopg adapts itself (ints, strings, aware datetimes) and read what
    it returns (aware datetimes, parsed JSON); a dict goes as JSON. Errors
    are the driver's own.

    `prepare=False`: never a prepared statement, so PostgreSQL plans every
    run for its actual values (psycopg prepares a statement on its fifth run,
    and a generic plan for `= ANY(:array)` probes the index once per value)."""
    if connection.dialect.name != "postgresql":
        result = connection.execute(statement, params)
        return [tuple(row) for row in result] if result.returns_rows else []
    compiled = _DRIVER_SQL.get(statement)
    if compiled is None:
        compiled = statement.compile(dialect=connection.dialect)
        compiled = _DRIVER_SQL[statement] = (str(compiled), dict(compiled.params))
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
