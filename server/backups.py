"""Daily backups of the whole database, their files and their retention.

SQLite is copied with its online backup API, PostgreSQL with `pg_dump
--format=custom`. Every backup has a sidecar manifest (`<file>.json`) with the
file's SHA-256, the schema revision and, per table, a row count and a checksum
of the rows (`server.backup_checksums`), so a restore (`server.backup_restore`)
can prove it brought back what was saved.

Backups hold personal data: files are created 0600 in a 0700 folder.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from mobile_sync.store.archive import schema_revision, shared_snapshot
from mobile_sync.store.database_files import copy_database_file
from server.backup_checksums import file_sha256, table_checksums

DEFAULT_KEEP = 14
NAME = re.compile(r"^callsync-(\d{8}T\d{6}Z)\.(sqlite3|dump)$")
# What a killed backup leaves behind: `.callsync-<time>.<ext>[.json].partial`.
PARTIAL = re.compile(r"^\.callsync-(\d{8}T\d{6}Z)\.(sqlite3|dump)(\.json)?\.partial$")
MANIFEST_FORMAT = 1
# libpq settings that may ride in the URL's query string, passed as environment.
PG_QUERY_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
                "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT",
                "application_name": "PGAPPNAME", "options": "PGOPTIONS"}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


# --- files and retention -----------------------------------------------------

def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def private_dir(directory: Path) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all, readable by the owner only."""
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reserve_name(directory: Path, moment: datetime, suffix: str) -> Path:
    """Claim `callsync-<UTC time>.<suffix>`; a clash (a job run twice) takes the next second."""
    stamp = int(moment.astimezone(timezone.utc).timestamp())
    for step in range(120):
        name = datetime.fromtimestamp(stamp + step, timezone.utc).strftime("callsync-%Y%m%dT%H%M%SZ")
        path = directory / f"{name}.{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return path
        except FileExistsError:
            continue
    raise BackupError(f"could not find a free backup name in {directory}")


def list_backups(directory: Path) -> list[tuple[datetime, Path]]:
    """Complete backups (a file and its manifest), oldest first."""
    found = []
    for path in directory.iterdir() if directory.is_dir() else ():
        match = NAME.match(path.name)
        if match and manifest_path(path).exists():
            moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            found.append((moment, path))
    return sorted(found)


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Keep every backup of the `keep` most recent days that have one; delete older ones.

    Only complete backups count towards the days kept, so the newest
    restorable copy is never deleted, whatever `keep` is (at least 1).
    """
    if keep < 1:
        raise BackupError("keep must be at least 1")
    backups = list_backups(directory)
    days = sorted({moment.date() for moment, _ in backups}, reverse=True)
    if len(days) <= keep:
        return []
    oldest_kept = days[keep - 1]
    removed = []
    for path in sorted(directory.iterdir()):
        match = NAME.match(path.name) or PARTIAL.match(path.name)
        if match and datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").date() < oldest_kept:
            if path.name.startswith("."):
                path.unlink(missing_ok=True)
                continue
            manifest_path(path).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- backing up ----------------------------------------------------------------

def engine_name(uri: str) -> str:
    backend = make_url(uri).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"backups support SQLite and PostgreSQL, not {backend}")
    return backend


def sqlite_path(uri: str) -> Path:
    database = make_url(uri).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("the SQLite database must be a plain file to back it up")
    return Path(database).resolve()


def find_pg_tool(name: str) -> str | None:
    """`pg_dump`/`pg_restore` on PATH, else the newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    def version(bindir: str):
        label = Path(bindir).parent.name
        return int(label) if label.isdigit() else 0
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        candidate = os.path.join(bindir, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def pg_command(tool: str, uri: str) -> tuple[list[str], dict]:
    """The tool with the URL's host, port, user and database; the password in PGPASSWORD."""
    binary = find_pg_tool(tool)
    if binary is None:
        raise BackupError(f"{tool} was not found on PATH or in /usr/lib/postgresql/*/bin "
                          "(apt-get install postgresql-client)")
    url = make_url(uri)
    env = dict(os.environ)
    args = [binary, "--no-password"]
    host = url.host or url.query.get("host")
    if host:
        args += ["--host", host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    if url.password is not None:
        env["PGPASSWORD"] = url.password
    for key, variable in PG_QUERY_ENV.items():
        if isinstance(url.query.get(key), str):
            env[variable] = url.query[key]
    args += ["--dbname", url.database or ""]
    return args, env


def run_tool(args: list[str], env: dict, **kwargs) -> None:
    done = subprocess.run(args, env=env, stderr=subprocess.PIPE, **kwargs)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise BackupError(f"{os.path.basename(args[0])} failed (exit {done.returncode}): {message}")


def _sqlite_backup(uri: str, target: Path, metadata: MetaData) -> tuple[dict, str | None]:
    source = sqlite_path(uri)
    if not source.exists():
        raise BackupError(f"there is no database at {source}")
    copy_database_file(source, target)  # one consistent state even while the app writes
    engine = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return table_checksums(conn, metadata), schema_revision(conn)
    finally:
        engine.dispose()


def _postgres_backup(uri: str, target: Path, metadata: MetaData) -> tuple[dict, str | None]:
    """pg_dump and our checksums read the same exported snapshot, so they agree
    even while the app keeps writing."""
    args, env = pg_command("pg_dump", uri)
    engine = create_engine(uri, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            snapshot = shared_snapshot(conn)
            with open(target, "wb") as out:
                run_tool(args + ["--format=custom", f"--snapshot={snapshot}"], env, stdout=out)
                out.flush()
                os.fsync(out.fileno())
            tables, revision = table_checksums(conn, metadata), schema_revision(conn)
            conn.rollback()
            return tables, revision
    finally:
        engine.dispose()


def create_backup(uri: str, directory: Path, moment: datetime, metadata: MetaData) -> Path:
    """Back the database at `uri` up into `directory`; returns the backup file.

    The file appears under its final name only once complete, and its manifest
    right after it; a backup without a manifest is never counted as kept.
    """
    engine = engine_name(uri)
    directory = private_dir(Path(directory))
    path = _reserve_name(directory, moment, "sqlite3" if engine == "sqlite" else "dump")
    partial = path.with_name(f".{path.name}.partial")
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        backup = _sqlite_backup if engine == "sqlite" else _postgres_backup
        tables, revision = backup(uri, partial, metadata)
        os.replace(partial, path)
        manifest = {
            "format": MANIFEST_FORMAT, "created_at": moment.astimezone(timezone.utc).isoformat(),
            "engine": engine, "file": path.name, "size": path.stat().st_size, "sha256": file_sha256(path),
            "alembic_revision": revision, "tables": tables,
        }
        _write_private(manifest_path(path), json.dumps(manifest, indent=2, sort_keys=True).encode())
        fsync_dir(directory)
    except BaseException:
        partial.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise
    return path

# --- inside the app ------------------------------------------------------------

def configured_dir(config) -> Path:
    """BACKUP_DIR (config or environment), else DATA_DIR/backups."""
    chosen = config.get("BACKUP_DIR") or os.environ.get("BACKUP_DIR")
    return Path(chosen or Path(config["DATA_DIR"]) / "backups")


def configured_keep(config) -> int:
    raw = config.get("BACKUP_KEEP") or os.environ.get("BACKUP_KEEP")
    return int(raw) if raw not in (None, "") else DEFAULT_KEEP


def run_backup(directory: Path | None = None, keep: int | None = None) -> tuple[Path, list[Path]]:
    """Back up the app's database, then prune; returns the new file and the pruned ones."""
    from flask import current_app

    from server.clock import now
    from server.extensions import db

    config = current_app.config
    directory = Path(directory) if directory else configured_dir(config)
    keep = configured_keep(config) if keep is None else keep
    if keep < 1:
        raise BackupError("keep must be at least 1")
    path = create_backup(config["SQLALCHEMY_DATABASE_URI"], directory, now(), db.metadata)
    return path, prune_backups(directory, keep)


def backup_job() -> str:
    """RQ entry point for the daily backup (BACKUP_DIR, BACKUP_KEEP); returns the file's path."""
    import logging

    path, pruned = run_backup()
    logging.getLogger(__name__).info("backup %s written; %s old backups pruned", path.name, len(pruned))
    return str(path)
