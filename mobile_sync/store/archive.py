"""What exports, imports and backups need from the database beyond the rows:
one consistent state to read, the schema's revision, and id sequences that
follow rows restored with their ids.

SQLite reads one state within any transaction and needs no sequences (a new
row takes the largest id plus one). PostgreSQL overrides those two.
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import column, func, inspect, select, table as table_clause

from mobile_sync.store.dialect import per_engine

# alembic's own table, not a model of ours.
_VERSIONS = table_clause("alembic_version", column("version_num"))


class _Archive:
    """SQLite's, and what any database could do."""

    @contextmanager
    def snapshot(self, session):
        # The session's own transaction already holds the database's write lock
        # (BEGIN IMMEDIATE), so a second connection would only wait for it.
        yield session.connection()

    def shared_snapshot(self, connection) -> str | None:
        return None

    def follow_explicit_ids(self, session, table) -> None:
        pass


class _PostgresArchive(_Archive):
    @contextmanager
    def snapshot(self, session):
        with session.get_bind().connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with connection.begin():
                yield connection

    def shared_snapshot(self, connection) -> str | None:
        connection.execution_options(isolation_level="REPEATABLE READ")
        return connection.execute(select(func.pg_export_snapshot())).scalar()

    def follow_explicit_ids(self, session, table) -> None:
        # An explicit id does not move the sequence: move it past every id.
        session.execute(select(func.setval(func.pg_get_serial_sequence(table.name, "id"),
                                           select(func.max(table.c.id)).scalar_subquery())))


_archive = per_engine(_Archive, _PostgresArchive)


def snapshot(session):
    """A context manager giving a connection that sees one state of the
    database for as long as it is open: on PostgreSQL a read-only REPEATABLE
    READ transaction of its own, on SQLite the session's own transaction."""
    return _archive(session).snapshot(session)


def shared_snapshot(connection) -> str | None:
    """Begin on `connection` (no transaction begun yet) a transaction that
    reads one state of the database, and return the id under which other
    sessions read that same state (`pg_dump --snapshot`) while it stays open;
    None where the database cannot share one (SQLite: copy the file instead)."""
    return _archive(connection).shared_snapshot(connection)


def follow_explicit_ids(session, table) -> None:
    """After rows were inserted into `table` with explicit ids, make the ids
    the database generates next follow the largest of them."""
    _archive(session).follow_explicit_ids(session, table)


def schema_revision(connection) -> str | None:
    """The migration revision the database is at (alembic's; several heads
    joined by commas), None when it was never migrated."""
    if not inspect(connection).has_table(_VERSIONS.name):
        return None
    revisions = connection.execute(select(_VERSIONS.c.version_num).order_by(_VERSIONS.c.version_num)).scalars()
    return ",".join(revisions) or None
