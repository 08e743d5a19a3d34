"""Extensions created without an app and bound in `create_app`; lazy Redis."""
from __future__ import annotations

from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from mobile_sync.store.models.base import Base

# Objects stay readable after the commit at the edge, for the response.
db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})
migrate = Migrate()


def redis_connection():
    """The app's Redis client, created on first use; None in the embedded mode."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("redis_client")
    if client is None:
        from redis import Redis

        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        current_app.extensions["redis_client"] = client
    return client


def sqlite_engine_options() -> dict:
    """SQLite for the embedded mode: one writer at a time, waiting its turn.

    Transactions begin IMMEDIATE so concurrent requests queue on the busy
    timeout instead of failing with "database is locked" on a lock upgrade.
    (The wait is set by the busy_timeout pragma below, SQLITE_BUSY_TIMEOUT_MS.)
    """
    return {"connect_args": {"timeout": 30, "isolation_level": None, "check_same_thread": False}}


def install_sqlite_pragmas(engine, busy_timeout_ms: int | None = None) -> None:
    """WAL, foreign keys, and how long a transaction waits for the write lock
    (default: the app's SQLITE_BUSY_TIMEOUT_MS) before it fails as busy, which
    the API answers 503 with Retry-After (`is_database_busy`)."""
    from sqlalchemy import event

    if busy_timeout_ms is None:
        busy_timeout_ms = int(current_app.config.get("SQLITE_BUSY_TIMEOUT_MS", 30_000))

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


def is_database_busy(err: Exception) -> bool:
    """The database refused to wait any longer for a lock another transaction
    holds: SQLite's write lock past the busy timeout ("database is locked"),
    or PostgreSQL's lock_not_available (55P03, past a lock_timeout). Nothing
    was done; the same request sent again later can succeed."""
    import sqlite3

    cause = getattr(err, "orig", None)
    if isinstance(cause, sqlite3.OperationalError):
        return getattr(cause, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or \
            str(cause).startswith(("database is locked", "database table is locked"))
    return getattr(cause, "sqlstate", None) == "55P03"
