"""Verified restores: a backup replaces the database only once its file matches
its manifest, and every table is then checked against the manifest's checksums.

SQLite is restored by copying the backup beside the live file, checking it and
swapping it in; PostgreSQL with `pg_restore --single-transaction`.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sqlalchemy import MetaData

from mobile_sync.store.database_files import DatabaseFileInUse, copy_database_file, release_database_file
from server.backup_checksums import TableCheck, compare, database_checksums, file_sha256
from server.backups import BackupError, engine_name, fsync_dir, manifest_path, pg_command, run_tool, sqlite_path


def read_verified_manifest(path: Path, engine: str) -> dict:
    """The manifest of `path`, once the file's SHA-256 matches it."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    try:
        manifest = json.loads(manifest_path(path).read_text())
    except FileNotFoundError:
        raise BackupError(f"{manifest_path(path).name} is missing: without it the backup cannot be verified")
    except ValueError:
        raise BackupError(f"{manifest_path(path).name} is not valid JSON")
    if file_sha256(path) != manifest.get("sha256"):
        raise BackupError(f"{path.name} does not match the SHA-256 in its manifest: "
                          "the file is damaged or was changed; refusing to restore it")
    if manifest.get("engine") != engine:
        raise BackupError(f"{path.name} is a {manifest.get('engine')} backup; the database is {engine}")
    return manifest


def _release_sqlite(live: Path) -> None:
    """Make sure nobody has the live database open before it is replaced."""
    try:
        release_database_file(live)
    except DatabaseFileInUse as err:
        raise BackupError(f"the database is in use ({err}): stop the web and worker processes first") from err


def _restore_sqlite(uri: str, path: Path, manifest: dict, metadata: MetaData) -> None:
    """Copy the backup into a file beside the database, check it, then swap it in."""
    live = sqlite_path(uri)
    live.parent.mkdir(parents=True, exist_ok=True)
    incoming = live.with_name(f".{live.name}.restoring")
    incoming.unlink(missing_ok=True)
    os.close(os.open(incoming, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        copy_database_file(path, incoming)
        wrong = [c for c in compare(manifest["tables"], database_checksums(f"sqlite:///{incoming}", metadata))
                 if not c.ok]
        if wrong:
            raise BackupError("the backup does not hold what its manifest says; the database was not touched:\n"
                              + "\n".join(c.describe() for c in wrong))
        if live.exists():  # the restored file takes the old one's owner and mode
            st = live.stat()
            os.chmod(incoming, st.st_mode & 0o777)
            if os.geteuid() == 0:
                os.chown(incoming, st.st_uid, st.st_gid)
        _release_sqlite(live)
        os.replace(incoming, live)
        fsync_dir(live.parent)
    finally:
        incoming.unlink(missing_ok=True)


def _restore_postgres(uri: str, path: Path) -> None:
    args, env = pg_command("pg_restore", uri)
    # Waiting forever on a lock held by a running app helps nobody: fail instead.
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c lock_timeout=60s").strip()
    run_tool(args + ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
                     str(path)], env, stdout=subprocess.DEVNULL)


def restore_backup(uri: str, path: Path, metadata: MetaData, confirm=None) -> tuple[dict, list[TableCheck]]:
    """Restore `path` over the database at `uri` and check every table against the manifest.

    `confirm(manifest)` is called once the file is verified and before anything
    changes (it may raise to stop). The caller must have closed the app's own
    connections. Returns the manifest and one check per table; any check not ok
    means the restore failed.
    """
    engine = engine_name(uri)
    path = Path(path)
    manifest = read_verified_manifest(path, engine)
    if confirm is not None:
        confirm(manifest)
    if engine == "sqlite":
        _restore_sqlite(uri, path, manifest, metadata)
    else:
        _restore_postgres(uri, path)
    return manifest, compare(manifest["tables"], database_checksums(uri, metadata))


# --- inside the app ------------------------------------------------------------

def run_restore(path: Path, confirm=None) -> tuple[dict, list[TableCheck]]:
    """Restore into the app's database, with the app's own connections closed."""
    from flask import current_app

    from server.extensions import db

    db.session.remove()
    for engine in db.engines.values():
        engine.dispose()
    try:
        return restore_backup(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(path), db.metadata, confirm)
    finally:
        for engine in db.engines.values():
            engine.dispose()  # no pooled connection to the replaced file or dropped tables
