"""Whether a statement failed because the database was busy: it refused to
wait any longer for a lock another transaction holds. Nothing was done; the
same work tried again later can succeed.

SQLite: its write lock past the busy timeout (SQLITE_BUSY, SQLITE_LOCKED,
"database is locked"). PostgreSQL: lock_not_available (55P03, past a
lock_timeout). One definition for the API's 503 and the store's own
"not now" paths (statistics).
"""
from __future__ import annotations

import sqlite3

_SQLITE_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
# Drivers built without `sqlite_errorcode` (Python < 3.11) say it in the message.
_SQLITE_BUSY_MESSAGES = ("database is locked", "database table is locked")
_POSTGRES_LOCK_NOT_AVAILABLE = "55P03"


def is_database_busy(err: BaseException) -> bool:
    """Whether `err` (SQLAlchemy's wrapper or the driver's own exception) says
    the database was busy, on SQLite or PostgreSQL."""
    cause = getattr(err, "orig", None) or err
    if isinstance(cause, sqlite3.OperationalError):
        return getattr(cause, "sqlite_errorcode", None) in _SQLITE_BUSY_CODES or \
            str(cause).startswith(_SQLITE_BUSY_MESSAGES)
    return getattr(cause, "sqlstate", None) == _POSTGRES_LOCK_NOT_AVAILABLE
