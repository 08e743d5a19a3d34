"""The query planner's statistics on SQLite (`sqlite_stat1`), kept current.

Without statistics SQLite guesses; one guess planned caller ID's exact probe on
the wrong index, a scan of the organisation (issue 16). The look-ups are now
planned right with any statistics or none (the schema's indexes,
tests/api/test_sqlite_plans.py); statistics keep the other statements right as
tables grow. PostgreSQL needs none of this: autovacuum analyses.

`PRAGMA optimize` would be the natural call, but before SQLite 3.46 it only
weighs the tables the connection itself has queried, so on a connection just
opened (a process starting) it does nothing (measured on 3.40). Its rule is
applied here instead, for every version: a table is analysed when one of its
indexes has no statistics yet, or when it has grown tenfold since they were
taken (by its largest rowid: O(log n), where a count would read the table).

Statistics are read when a connection opens: the connections already open, in
this process or another, keep the ones they read (measured; even a schema
change does not reload them).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref

from sqlalchemy.engine import Connection, Engine

from mobile_sync.store.busy import is_database_busy

log = logging.getLogger(__name__)

# Rows of each index that ANALYZE reads: ~60 ms for a table of 100,000 rows
# instead of ~150 ms. Approximate figures past it (all the planner needs),
# exact below: ten times MIN_ROWS, so that no table is found small by chance.
ANALYSIS_LIMIT = 10_000
GROWTH = 10  # times the rows the statistics were taken with
# Statistics of a table this small are dropped, not kept: they make SQLite scan
# it (right while it is that small: the token check became a scan of
# access_tokens), and the scan stays when the table has grown. With none, the
# planner assumes a large table and uses the indexes; at this size a wrong
# guess costs microseconds.
MIN_ROWS = 1000

_INDEXES = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND tbl_name NOT LIKE 'sqlite_%'"
_HAS_STATS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
_STATS = "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE idx IS NOT NULL"
_SMALL = "SELECT DISTINCT tbl FROM sqlite_stat1 WHERE CAST(stat AS INTEGER) < ?"  # its first figure: the rows
_FORGET = "DELETE FROM sqlite_stat1 WHERE tbl = ?"


def refresh_statistics(bind, *, wait_ms: int | None = None) -> list[str]:
    """Analyse, on SQLite, the tables whose statistics are missing or stale;
    return their names. Nothing on PostgreSQL.

    `bind` is a Session (the statements run in its transaction, the caller
    commits: after a bulk import) or an Engine (its own transactions: at
    start-up). With an Engine, `wait_ms` bounds the wait for the write lock:
    busy past it, nothing is analysed now, and the next start or import does it."""
    if not isinstance(bind, (Connection, Engine)):
        bind = bind.connection()  # a Session, or Flask-SQLAlchemy's scoped one
    if bind.dialect.name != "sqlite":
        return []
    if isinstance(bind, Connection):
        return _analyse(bind.exec_driver_sql)
    pooled = bind.raw_connection()  # autocommit: each ANALYZE is its own short write
    try:
        driver = pooled.driver_connection
        configured = driver.execute("PRAGMA busy_timeout").fetchone()[0]
        if wait_ms is not None:
            driver.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        try:
            return _analyse(driver.execute)
        except sqlite3.OperationalError as err:
            if not is_database_busy(err):
                raise
            log.info("statistics not refreshed now: the database is busy")
            return []
        finally:
            driver.execute(f"PRAGMA busy_timeout = {int(configured)}")
    finally:
        pooled.close()


# When each engine's statistics were last looked at (`refresh_now_and_then`).
_LAST_LOOK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOOK_LOCK = threading.Lock()
EVERY_S = 600


def refresh_now_and_then(engine: Engine, *, every_s: int = EVERY_S, clock=time.monotonic) -> list[str] | None:
    """The periodic refresh: `refresh_statistics(engine)` at most once every
    `every_s` seconds per engine and never waiting for the write lock; None
    when it was not time yet. Called by each processing run, the job that
    grows the tables (calls, leads), so an embedded service that never
    restarts still has statistics that follow its data."""
    if engine.dialect.name != "sqlite":
        return None
    with _LOOK_LOCK:
        last = _LAST_LOOK.get(engine)
        if last is not None and clock() - last < every_s:
            return None
        _LAST_LOOK[engine] = clock()
    return refresh_statistics(engine, wait_ms=0)


def _analyse(execute) -> list[str]:
    stale = _stale_tables(execute)
    if stale:
        execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
        for table in stale:
            execute(f'ANALYZE "{table}"')
    small = [row[0] for row in execute(_SMALL, (MIN_ROWS,))] if execute(_HAS_STATS).fetchone() else []
    if small:
        for table in small:
            execute(_FORGET, (table,))
        execute("ANALYZE sqlite_schema")  # this connection forgets them too
    return [table for table in stale if table not in small]


def _stale_tables(execute) -> list[str]:
    indexes: dict[str, set[str]] = {}
    for table, index in execute(_INDEXES):
        indexes.setdefault(table, set()).add(index)
    taken: dict[str, tuple[set[str], int]] = {}
    if execute(_HAS_STATS).fetchone():
        for table, index, stat in execute(_STATS):
            names, rows = taken.setdefault(table, (set(), 0))
            names.add(index)
            taken[table] = (names, max(rows, int(str(stat).split()[0])))
    stale = []
    for table in sorted(indexes):
        names, rows = taken.get(table, (set(), 0))
        largest = execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0] or 0
        if largest >= MIN_ROWS and (indexes[table] - names or largest >= GROWTH * max(rows, 1)):
            stale.append(table)
    return stale
