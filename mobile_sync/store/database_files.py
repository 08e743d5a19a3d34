"""SQLite's database file, handled whole: the file operations backups and
restores need (`server.backups`, `server.backup_restore`), which talk to the
driver directly rather than through an engine. PostgreSQL has no file the
service touches: pg_dump and pg_restore do that work.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

# The files SQLite keeps beside the database while it runs in WAL.
_SIDECARS = ("-wal", "-shm")


class DatabaseFileInUse(Exception):
    """Another connection has the database file open; the message says how it showed."""


def copy_database_file(source: Path, target: Path, *, timeout_s: float = 30) -> None:
    """Copy the SQLite database at `source` into `target` as one consistent
    state, even while others write to it (the online backup API, in one step),
    and leave `target` a single self-contained file (no WAL beside it).
    `source` is opened read-only; `target` is overwritten."""
    src = sqlite3.connect(f"file:{Path(source).resolve()}?mode=ro", uri=True, timeout=timeout_s)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def release_database_file(path: Path) -> None:
    """Make the SQLite database at `path` safe to replace: fold its WAL into
    the file and leave WAL mode, so nothing beside it would be applied to the
    file that takes its place. Raises DatabaseFileInUse when another
    connection has it open (it would keep writing to the old file). With no
    database at `path`, removes stale WAL leftovers instead."""
    path = Path(path)
    if not path.exists():
        for extra in _SIDECARS:
            path.with_name(path.name + extra).unlink(missing_ok=True)
        return
    connection = sqlite3.connect(path, timeout=5)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    except sqlite3.OperationalError as err:
        raise DatabaseFileInUse(str(err)) from err
    finally:
        connection.close()
    if mode.lower() != "delete" or path.with_name(path.name + "-wal").exists():
        raise DatabaseFileInUse("it is still in WAL mode")
