"""Extensions created without an app and bound in `create_app`; lazy Redis."""
from __future__ import annotations

from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from server.models.base import Base

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
    """
    return {"connect_args": {"timeout": 30, "isolation_level": None, "check_same_thread": False}}


def install_sqlite_pragmas(engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
