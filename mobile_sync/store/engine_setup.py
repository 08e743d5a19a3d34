"""How the service's connections are opened and configured, per database.

SQLite (the embedded mode): one writer at a time, waiting its turn. Each
connection runs in WAL with foreign keys on and waits up to a busy timeout
for the write lock, and transactions begin IMMEDIATE, so concurrent requests
queue on that timeout instead of failing with "database is locked" when a
reader upgrades to a writer. Past the timeout the statement fails as busy,
which the API answers 503 with Retry-After.

PostgreSQL: a pool checked before use, and sessions in UTC whatever the
server's TimeZone: the driver reads a timestamptz into datetime.timezone.utc
40% faster than into a zoneinfo zone ("Etc/UTC", "Asia/Kolkata"), and every
datetime the service reads is then UTC.

The planner's statistics are another matter, kept in `store.statistics`.
"""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import make_url

from mobile_sync.store.dialect import per_engine


CHECKPOINTS_DEFERRED = "checkpoints_deferred"  # in a pooled connection's info: see `defer_checkpoints`
WAL_AUTOCHECKPOINT = 1000  # SQLite's default: a commit past this many WAL frames checkpoints


class _EngineSetup:
    """SQLite's."""

    def engine_options(self) -> dict:
        # The driver's own transaction handling is off (isolation_level=None):
        # `configure` begins each transaction itself.
        return {"connect_args": {"timeout": 30, "isolation_level": None, "check_same_thread": False}}

    def configure(self, engine, busy_timeout_ms: int) -> None:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "checkin")
        def _checkpoints_back(dbapi_connection, record):
            # A bulk import's transactions leave the WAL's checkpoint to its
            # gaps (`defer_checkpoints`); back in the pool, commits checkpoint.
            if record.info.pop(CHECKPOINTS_DEFERRED, False) and dbapi_connection is not None:
                dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")


class _PostgresEngineSetup(_EngineSetup):
    def engine_options(self) -> dict:
        return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10,
                "connect_args": {"options": "-c TimeZone=UTC"}}

    def configure(self, engine, busy_timeout_ms: int) -> None:
        """Nothing per connection: the options above say it all."""


_setup = per_engine(_EngineSetup, _PostgresEngineSetup)


def engine_options(database_url: str) -> dict:
    """The options to create the engine for `database_url` with (before there
    is an engine, so chosen by the URL's backend)."""
    postgresql = make_url(database_url).get_backend_name() == "postgresql"
    return (_PostgresEngineSetup if postgresql else _EngineSetup)().engine_options()


def defer_checkpoints(connection) -> None:
    """SQLite: this connection's commits do not checkpoint the WAL until it
    is back in the pool (a bulk import checkpoints in the gaps it leaves
    between its transactions, where it would otherwise sleep). `connection`:
    a SQLAlchemy Connection in a transaction. Nothing on PostgreSQL."""
    if connection.dialect.name != "sqlite":
        return
    connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
    connection.connection.info[CHECKPOINTS_DEFERRED] = True


def configure_engine(engine, *, busy_timeout_ms: int) -> None:
    """Configure every connection `engine` opens from now on (call once per
    engine, before it is used). `busy_timeout_ms`: how long a SQLite
    transaction waits for the write lock before it fails as busy."""
    _setup(engine).configure(engine, busy_timeout_ms)
