"""A CSV import's statements (`mobile_sync.contacts_csv`): which of a block's
contacts exist already, the block's contacts and numbers written in bulk,
and fresh planner statistics after a large import. Every statement that
reads or writes contacts is scoped by the organisation it is given.

Nothing here is per line: per block, ids are reserved in one statement and
contacts and numbers written with one statement each (COPY on PostgreSQL,
one executemany on SQLite), and the directory log gets the block's numbers
in one INSERT.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, text

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import engine_of, per_engine
from mobile_sync.store.directory_log import RECORD_TYPES, log_numbers
from mobile_sync.store.engine_setup import defer_checkpoints
from mobile_sync.store.id_reservation import reserve_ids
from mobile_sync.store.models import Contact, RecordPhone
from mobile_sync.store.statistics import refresh_statistics

RECORD_TYPE = RECORD_TYPES[Contact]
CONTACT_COLUMNS = ("id", "organization_id", "name", "company", "email", "source", "owner_id", "created_at",
                   "updated_at")
PHONE_COLUMNS = ("organization_id", "record_type", "record_id", "e164", "suffix", "raw", "extension")
LOOKUP_CHUNK = 5000  # numbers per look-up statement

_CONTACTS, _PHONES = Contact.__table__, RecordPhone.__table__


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


class _ContactImport:
    """SQLite's (in process: statements cost no round trip, but Python's
    per-row work counts)."""

    # One writer at a time holds the whole database: the import leaves it
    # free between its transactions (`contacts_csv._Checkpoints`).
    writers_take_turns = True

    # The numbers as one JSON parameter, so the statement is prepared once; a
    # text per chunk would each stay in the driver's statement cache (~1 MB
    # for 5,000 values: the import's memory grew by 50 MB in 300,000 lines).
    _EXISTING_KEYS = text("""
        SELECT c.name, p.e164, c.id FROM record_phones AS p
        JOIN contacts AS c ON c.id = p.record_id AND c.organization_id = p.organization_id
        WHERE p.organization_id = :org AND p.record_type = :record_type
          AND p.e164 IN (SELECT value FROM json_each(:numbers))""")

    def existing_keys(self, session, organization_id: int, numbers: list[str]) -> dict[tuple[str, str], int]:
        keys: dict[tuple[str, str], int] = {}
        for chunk in _chunks(numbers, LOOKUP_CHUNK):
            rows = session.execute(self._EXISTING_KEYS, {"org": organization_id, "record_type": RECORD_TYPE,
                                                         "numbers": json.dumps(chunk)})
            keys.update(((name.lower(), e164), contact_id) for name, e164, contact_id in rows)
        return keys

    def insert(self, session, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        """One executemany, each distinct value of a column that needs
        converting (the import's one timestamp) converted once."""
        if not rows:
            return
        connection = session.connection()
        dialect = connection.dialect
        processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
        if any(processors):
            values = list(zip(*rows))
            for position, processor in enumerate(processors):
                if processor is not None:
                    converted = {value: processor(value) for value in set(values[position])}
                    values[position] = map(converted.__getitem__, values[position])
            rows = list(zip(*values))
        placeholders = ", ".join("?" * len(columns))
        connection.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", rows)

    def analyse(self, session) -> None:
        refresh_statistics(session)


# PostgreSQL type names for a binary COPY of the columns' SQL types.
_BINARY_TYPES = {"INTEGER": "int4", "SMALLINT": "int2", "BIGINT": "int8", "VARCHAR": "text", "TEXT": "text",
                 "TIMESTAMP WITH TIME ZONE": "timestamptz"}

# Which of the numbers the organisation's contacts hold: probes of the phone
# index alone. Then the names of those contacts (none, in a file of new people).
_PG_NUMBERS_HELD = (
    select(_PHONES.c.e164, _PHONES.c.record_id)
    .where(_PHONES.c.organization_id == bindparam("org"), _PHONES.c.record_type == bindparam("record_type"),
           one_of(_PHONES.c.e164, "numbers", on_postgresql=True)))
_PG_CONTACT_NAMES = (
    select(_CONTACTS.c.id, _CONTACTS.c.name)
    .where(_CONTACTS.c.organization_id == bindparam("org"), one_of(_CONTACTS.c.id, "ids", on_postgresql=True)))


class _PostgresContactImport(_ContactImport):
    """Rows by binary COPY (it spares both sides formatting and parsing text);
    existing contacts found by their numbers in the phone index, then their names."""

    writers_take_turns = False

    def __init__(self):
        self._types: dict = {}

    def existing_keys(self, session, organization_id: int, numbers: list[str]) -> dict[tuple[str, str], int]:
        # Never prepared (`driver_rows(prepare=False)`): planned each time for
        # the array it is given. Not one join of the phone index and the
        # contacts: during an import the planner's statistics still count
        # the organisation's contacts as they were before it, and it walked
        # all of them to match their numbers against the array (0.74 s a
        # block at 100,000 contacts, so the import grew as its square). The
        # phone index's (organization_id, e164, …) index answers the numbers
        # alone whatever the statistics say.
        keys: dict[tuple[str, str], int] = {}
        connection = session.connection()
        for chunk in _chunks(numbers, LOOKUP_CHUNK):
            held = driver_rows(connection, _PG_NUMBERS_HELD,
                               {"org": organization_id, "record_type": RECORD_TYPE, "numbers": chunk}, prepare=False)
            if not held:
                continue
            names = dict(driver_rows(connection, _PG_CONTACT_NAMES,
                                     {"org": organization_id, "ids": sorted({record_id for _, record_id in held})},
                                     prepare=False))
            keys.update(((names[contact_id].lower(), e164), contact_id)
                        for e164, contact_id in held if contact_id in names)
        return keys

    def _binary_types(self, table, columns: tuple[str, ...], dialect) -> list[str] | None:
        """The columns' types for a binary COPY, or None when one is not listed in _BINARY_TYPES."""
        key = (table.name, columns)
        if key not in self._types:
            names = [table.c[name].type.compile(dialect=dialect).split("(")[0] for name in columns]
            self._types[key] = [_BINARY_TYPES[n] for n in names] if all(n in _BINARY_TYPES for n in names) else None
        return self._types[key]

    def insert(self, session, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        connection = session.connection()
        types = self._binary_types(table, columns, connection.dialect)
        options = " (FORMAT BINARY)" if types else ""
        with connection.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN{options}") as copy:
                if types:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)

    def analyse(self, session) -> None:
        # Before autovacuum gets to it: caller ID's look-ups planned for the index's new size.
        session.execute(text(f"ANALYZE {_PHONES.name}"))


_statements = per_engine(_ContactImport, _PostgresContactImport)


def existing_contact_keys(session, organization_id: int, numbers) -> dict[tuple[str, str], int]:
    """(lower-cased name, number) → id of the organisation's contacts holding one of `numbers`."""
    return _statements(session).existing_keys(session, organization_id, sorted(numbers))


def insert_contacts(session, organization_id: int, owner_id: int | None, contacts: list[tuple],
                    now: datetime) -> None:
    """New contacts of the organisation, made at `now`, and their numbers in
    the phone index (logged for the phones' directory). `contacts`: (line,
    name, company, email, source, [(e164, suffix, extension, raw), ...])."""
    if not contacts:
        return
    statements = _statements(session)
    ids = reserve_ids(session, _CONTACTS, len(contacts))
    statements.insert(session, _CONTACTS, CONTACT_COLUMNS, [
        (contact_id, organization_id, name, company, email, source, owner_id, now, now)
        for contact_id, (_, name, company, email, source, _) in zip(ids, contacts)])
    statements.insert(session, _PHONES, PHONE_COLUMNS, [
        (organization_id, RECORD_TYPE, contact_id, e164, suffix, raw, extension)
        for contact_id, contact in zip(ids, contacts) for e164, suffix, extension, raw in contact[5]])
    log_numbers(session, organization_id, {phone[0] for contact in contacts for phone in contact[5]}, now,
                write=lambda table, columns, rows: statements.insert(session, table, columns, rows))


def contacts_besides(session, organization_id: int, created_at: datetime) -> bool:
    """Whether the organisation holds a contact made at another time than
    `created_at` (an import makes all of its contacts at one): its first and
    last creation times, each one probe of the (organization_id, created_at)
    index. (Not EXISTS of an earlier one: with the statistics of before the
    import, PostgreSQL scanned the whole table for it, ~50 ms a block once
    another organisation held 100,000 contacts.)"""
    c = _CONTACTS.c
    first = select(func.min(c.created_at)).where(c.organization_id == organization_id).scalar_subquery()
    last = select(func.max(c.created_at)).where(c.organization_id == organization_id).scalar_subquery()
    return bool(session.execute(select(or_(first < created_at, last > created_at))).scalar())


def analyse_after_import(session) -> None:
    """Fresh planner statistics after a bulk import, in the session's
    transaction, so that caller ID's look-ups are planned for the phone
    index's new size."""
    _statements(session).analyse(session)


def writers_take_turns(session) -> bool:
    """Whether one writer at a time holds the whole database (SQLite), so
    that a long import must leave it free between its transactions."""
    return _statements(session).writers_take_turns


class OtherWrites:
    """SQLite: whether another connection, of this process or another, has
    committed a change since the last look (`changed`). `PRAGMA
    data_version` of a connection of the watch's own, outside any
    transaction (a few microseconds, no lock): it moves with every commit
    of any other connection, the import's own session's included, so the
    import looks right after its commits (`changed`, result ignored) and
    again after a gap left for others."""

    def __init__(self, session):
        self._connection = engine_of(session).raw_connection()
        self._version = self._look()

    def _look(self) -> int:
        return self._connection.driver_connection.execute("PRAGMA data_version").fetchone()[0]

    def changed(self) -> bool:
        version = self._look()
        changed, self._version = version != self._version, version
        return changed

    @staticmethod
    def begin_turn(session) -> None:
        """Begin the import's next transaction in `session`, its commit
        leaving the WAL's checkpoint (its copy and syncs: ~30 ms of a block's
        ~40 ms commit) to the next gap (`checkpoint`), where the import would
        otherwise sleep."""
        defer_checkpoints(session.connection())

    def checkpoint(self) -> None:
        """Checkpoint the WAL (PASSIVE: it neither waits for nor blocks a writer)."""
        self._connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        self._connection.close()
