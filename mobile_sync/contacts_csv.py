"""Importing contacts from a CSV file, in bulk.

100,000 lines must import in seconds. Nothing is per line on the database:
per block of lines, ids are reserved in one statement and contacts, numbers
and the directory log are written in bulk (COPY on PostgreSQL). Reading a
number new to the normaliser's cache costs ~50 µs of pure Python, and a CRM
file rarely repeats one, so for a large file forked worker processes clean
and normalise the blocks ahead while this process stores the earlier ones.
"""
from __future__ import annotations

import csv
import io
import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterator

from marshmallow import ValidationError, validate
from sqlalchemy import bindparam, exists, func, select, text

from mobile_sync.contacts import RECORD_TYPE, check_active_user, check_owner
from mobile_sync.erasure_check import erased_numbers
from mobile_sync.errors import ServiceError, invalid
from mobile_sync.phones import normalize_number, region_for
from mobile_sync.plans import check_record_limit, plan_limit, record_count
from schemas.contacts import COMPANY_MAX, NAME_MAX, PHONE_MAX, PHONES_MAX, SOURCE_MAX
from server.models import Contact, DirectoryChange, ErasedNumber, Organization, RecordPhone, User


CSV_HEADER = ("name", "company", "email", "source", "phones")
ERRORS_SHOWN = 1000
CHUNK = 5_000  # lines per block
PARALLEL_MIN = 20_000  # lines; a smaller file is read faster in this process
ANALYZE_MIN = 10_000  # contacts imported at once
_check_email = validate.Email()
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)

    def fail(self, line: int, message: str) -> None:
        self.failed += 1
        if len(self.errors) < ERRORS_SHOWN:
            self.errors.append({"line": line, "message": message})


def _bad_file(message: str) -> ServiceError:
    return invalid({"body": [message]}, message)


def read_csv(data: bytes) -> Iterator[tuple[int, list[str] | str]]:
    """The file's records after the header, read as they are consumed: (line,
    fields in CSV_HEADER order), or (line, why the line cannot be read). An
    empty file, one that is not UTF-8, or a header that is not
    `name,company,email,source,phones` (in any order) is a 422 at once."""
    if not data.strip():
        raise _bad_file("The file is empty.")
    try:
        text_ = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad_file("The file is not UTF-8 text.")
    reader = csv.reader(io.StringIO(text_, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (csv.Error, StopIteration):
        header = []
    if sorted(header) != sorted(CSV_HEADER):
        raise _bad_file("The first line must be the header " + ",".join(CSV_HEADER) + ".")
    return _records(reader, [header.index(name) for name in CSV_HEADER])


def _records(reader, order: list[int]) -> Iterator[tuple[int, list[str] | str]]:
    line = reader.line_num
    while True:
        start = line + 1  # a quoted field may span lines: report where the record starts
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield start, f"Not a readable CSV line ({err})."
            line = reader.line_num
            continue
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # blank lines, and the trailing ",,,," of spreadsheets
        if len(fields) != len(CSV_HEADER):
            yield start, f"Expected {len(CSV_HEADER)} fields, found {len(fields)}."
            continue
        yield start, [fields[i] for i in order]


def _clean_fields(fields: list[str]) -> tuple | str:
    """(name, company, email, source, raw phones), or why the line is unusable:
    the API schema's rules without its per-row cost."""
    if any("\x00" in f for f in fields):
        return "Must not contain NUL characters."
    name, company, email, source, phones = (f.strip() for f in fields)
    if not name:
        return "name: a name is required."
    if len(name) > NAME_MAX:
        return f"name: longer than {NAME_MAX} characters."
    if len(company) > COMPANY_MAX:
        return f"company: longer than {COMPANY_MAX} characters."
    if len(source) > SOURCE_MAX:
        return f"source: longer than {SOURCE_MAX} characters."
    if email:
        try:
            _check_email(email)
        except ValidationError:
            return "email: not a valid e-mail address."
        if len(email) > 320:
            return "email: not a valid e-mail address."
    raws = [p for p in (p.strip() for p in phones.split(";")) if p]
    if not raws:
        return "phones: at least one phone number is required."
    if len(raws) > PHONES_MAX:
        return f"phones: at most {PHONES_MAX} numbers per contact."
    if any(len(raw) > PHONE_MAX for raw in raws):
        return f"phones: a number is longer than {PHONE_MAX} characters."
    return name, company or None, email.lower() or None, source or None, raws


def default_workers() -> int:
    """Worker processes for a large import: the CPUs this process may use, at most 4."""
    try:
        return min(4, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return min(4, os.cpu_count() or 1)


def prepare_block(records: list[tuple[int, list[str] | str]],
                  region: str | None) -> tuple[list[tuple], dict[int, str]]:
    """Clean and normalise a block of records (plain values in and out, so it
    can run in a worker process): the usable lines as (line, name, company,
    email, source, [(e164, suffix, extension, raw), ...] unique by number),
    and the others' problems by line."""
    contacts, problems = [], {}
    for line, fields in records:
        values = fields if isinstance(fields, str) else _clean_fields(fields)
        if isinstance(values, str):
            problems[line] = values
            continue
        name, company, email, source, raws = values
        phones, seen = [], set()
        for position, raw in enumerate(raws, start=1):
            number = normalize_number(raw, region)
            if not number.matchable:
                problems[line] = f"phones: number {position} is not a usable phone number ({number.status})."
                break
            if number.e164 not in seen:
                seen.add(number.e164)
                phones.append((number.e164, number.suffix, number.extension, raw))
        else:
            contacts.append((line, name, company, email, source, phones))
    return contacts, problems


def _prepared_blocks(records: Iterator, expected_lines: int, region: str | None, workers: int):
    """`prepare_block` over blocks of CHUNK records, in order. With workers
    and a large file, forked processes prepare blocks while this process is
    still reading the file, and then while it stores the earlier blocks."""
    blocks = iter(lambda: list(itertools.islice(records, CHUNK)), [])
    if workers <= 1 or expected_lines < PARALLEL_MIN or "fork" not in multiprocessing.get_all_start_methods():
        for block in blocks:
            yield len(block), prepare_block(block, region)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        futures = [(len(block), pool.submit(prepare_block, block, region)) for block in blocks]
        for size, future in futures:
            yield size, future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in(column, values: list):
    """`column IN (values)` with the values written into the SQL: each chunk's
    statement is then new to the server, so PostgreSQL plans it with the
    values known (and hashes the list) instead of falling back, after a few
    executions of a prepared statement, to a generic plan that compares every
    row with every value."""
    return column.in_(bindparam(f"{column.name}_values", values, literal_execute=True))


def _existing_keys(session, organization_id: int, first_numbers: set[str]) -> set[tuple[str, str]]:
    """(lower-cased name, number) of the organisation's contacts having one of `first_numbers`."""
    keys: set[tuple[str, str]] = set()
    phones, contacts = RecordPhone.__table__.c, Contact.__table__.c  # Core rows: no ORM loading cost
    for chunk in _chunks(sorted(first_numbers), 5000):
        pairs = session.execute(
            select(phones.record_id, phones.e164)
            .where(phones.organization_id == organization_id, phones.record_type == RECORD_TYPE,
                   _in(phones.e164, chunk))
        ).all()
        names: dict[int, str] = {}
        for ids in _chunks(sorted({record_id for record_id, _ in pairs}), 5000):
            names.update(session.execute(select(contacts.id, contacts.name).where(
                contacts.organization_id == organization_id, _in(contacts.id, ids))).all())
        keys.update((names[record_id].lower(), e164) for record_id, e164 in pairs if record_id in names)
    return keys


def _erased(session, organization_id: int, numbers: set[str], hash_key: str) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(numbers), 5000):
        found |= erased_numbers(session, organization_id, set(chunk), hash_key)
    return found


def _reserve_ids(session, table, count: int) -> list[int]:
    """`count` new primary keys of `table`, so rows and their children go in without RETURNING."""
    if session.get_bind().dialect.name == "postgresql":
        return list(session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
            {"table": table.name, "count": count}).scalars())
    # SQLite: the transaction holds the database's write lock (it begins
    # IMMEDIATE), so nobody else takes these ids; if someone did, the insert
    # would fail on the primary key rather than mix rows up.
    start = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))


_BINARY_TYPES = {"INTEGER": "int4", "SMALLINT": "int2", "BIGINT": "int8", "VARCHAR": "text", "TEXT": "text",
                 "TIMESTAMP WITH TIME ZONE": "timestamptz"}


def _binary_copy_types(table, columns: tuple[str, ...], dialect) -> list[str] | None:
    """PostgreSQL type names for a binary COPY (it spares both sides formatting
    and parsing text), or None when a column's type is not one listed here."""
    names = [table.c[name].type.compile(dialect=dialect).split("(")[0] for name in columns]
    return [_BINARY_TYPES[name] for name in names] if all(name in _BINARY_TYPES for name in names) else None


def _bulk_insert(session, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows into `table`: COPY on PostgreSQL; on SQLite one executemany, each
    distinct value converted once by its column's type (one timestamp per import)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql":
        types = _binary_copy_types(table, columns, dialect)
        options = " (FORMAT BINARY)" if types else ""
        with connection.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN{options}") as copy:
                if types:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        return
    converters = []
    for position, name in enumerate(columns):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            converters.append((position, processor, {}))
    if converters:
        converted = []
        for row in rows:
            row = list(row)
            for position, processor, seen in converters:
                value = row[position]
                if value not in seen:
                    seen[value] = processor(value)
                row[position] = seen[value]
            converted.append(tuple(row))
        rows = converted
    placeholders = ", ".join("?" * len(columns))
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", rows)


CONTACT_COLUMNS = ("id", "organization_id", "name", "company", "email", "source", "owner_id", "created_at",
                   "updated_at")
PHONE_COLUMNS = ("organization_id", "record_type", "record_id", "e164", "suffix", "raw", "extension")


def import_contacts_csv(session, *, org: Organization, data: bytes, owner_id: int | None, region: str | None,
                        hash_key: str, now: datetime, workers: int = 1,
                        progress: Progress | None = None) -> ImportReport:
    """Import a CSV of contacts (header `name,company,email,source,phones`,
    phones separated by `;`). A bad line is reported by its line number and the
    rest are imported. A line whose (name, first number) is already a contact,
    in the database or earlier in the file, is a duplicate, so importing the
    same file again adds nothing. A number erased at its owner's request fails
    its line rather than bring the person back. Over the plan's record limit,
    nothing is imported (the caller rolls back)."""
    report = ImportReport()
    records = read_csv(data)
    expected_lines = data.count(b"\n")  # about the number of records: for progress and the choice to fork
    problems: dict[int, str] = {}
    had_contacts = session.execute(select(exists().where(Contact.organization_id == org.id))).scalar()
    any_erased = session.execute(select(exists().where(ErasedNumber.organization_id == org.id))).scalar()
    limit = plan_limit(org, "record_limit")
    headroom = None if limit is None else limit - record_count(session, org.id)
    seen_keys: set[tuple[str, str]] = set()
    logged: set[str] = set()
    done = 0
    blocks = _prepared_blocks(records, expected_lines, region_for(region, org.region), workers)
    for size, (contacts, block_problems) in blocks:
        problems.update(block_problems)
        erased = _erased(session, org.id, {p[0] for c in contacts for p in c[5]}, hash_key) if any_erased else set()
        if had_contacts:
            seen_keys |= _existing_keys(session, org.id, {c[5][0][0] for c in contacts})
        new = []
        for contact in contacts:
            if erased and any(phone[0] in erased for phone in contact[5]):
                problems[contact[0]] = "phones: a number on this line was erased at the person's request."
                continue
            key = (contact[1].lower(), contact[5][0][0])
            if key in seen_keys:
                report.duplicates += 1
                continue
            seen_keys.add(key)
            new.append(contact)
        if headroom is not None and report.imported + len(new) > headroom:
            check_record_limit(session, org, len(new))  # counts again, and refuses with the plan's message
        _store(session, org.id, owner_id, new, logged, now)
        report.imported += len(new)
        done += size
        if progress:
            progress("importing", min(done, expected_lines), expected_lines)
    if progress:
        progress("importing", expected_lines, expected_lines)
    for line in sorted(problems):
        report.fail(line, problems[line])
    if report.imported >= ANALYZE_MIN and session.get_bind().dialect.name == "postgresql":
        # As after any bulk load: fresh statistics for the phone index, so that
        # caller ID's look-ups are planned for its new size before autovacuum
        # gets to it.
        session.execute(text("ANALYZE record_phones"))
    return report


def _store(session, organization_id: int, owner_id: int | None, contacts: list[tuple], logged: set[str],
           now: datetime) -> None:
    """New contacts, their numbers and the directory log (the rows
    log_directory_change writes, one per number not yet logged by this import)."""
    ids = _reserve_ids(session, Contact.__table__, len(contacts))
    _bulk_insert(session, Contact.__table__, CONTACT_COLUMNS, [
        (contact_id, organization_id, name, company, email, source, owner_id, now, now)
        for contact_id, (_, name, company, email, source, _) in zip(ids, contacts)])
    _bulk_insert(session, RecordPhone.__table__, PHONE_COLUMNS, [
        (organization_id, RECORD_TYPE, contact_id, e164, suffix, raw, extension)
        for contact_id, contact in zip(ids, contacts) for e164, suffix, extension, raw in contact[5]])
    numbers = sorted({phone[0] for contact in contacts for phone in contact[5]} - logged)
    logged.update(numbers)
    _bulk_insert(session, DirectoryChange.__table__, ("organization_id", "e164", "created_at"),
                 [(organization_id, e164, now) for e164 in numbers])


def import_owner(session, organization_id: int, user: User | None, owner_id: int | None) -> int | None:
    """The owner of imported contacts: the importer (none from the command
    line) unless another active user of the organisation is named."""
    if user is not None:
        return user.id if owner_id is None else check_owner(session, organization_id, user, owner_id)
    if owner_id is not None:
        check_active_user(session, organization_id, owner_id)
    return owner_id