"""Importing contacts from a CSV file, in bulk, streamed.

100,000 lines must import in seconds, and a file of any size in bounded
memory. The file is read a piece at a time and imported by blocks of lines;
nothing grows with the file but counters and the first ERRORS_SHOWN problems.
Nothing is per line on the database: per block, ids are reserved in one
statement and contacts, numbers and the directory log are written in bulk
(COPY on PostgreSQL). Reading a number new to the normaliser's cache costs
~50 µs of pure Python, and a CRM file rarely repeats one, so for a large file
forked worker processes clean and normalise a few blocks ahead while this
process stores the earlier ones.

Each block is committed by the caller's `checkpoint` before the next is read:
what was accepted stays if a later line, the record limit or the process
fails; importing the file again adds only the rest (duplicates are found in
the database). On SQLite, the one write lock is free between blocks.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import multiprocessing
import os
import re
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Callable, Iterator

from marshmallow import ValidationError, validate
from sqlalchemy import bindparam, exists, func, select, text

from mobile_sync.contacts import RECORD_TYPE, check_active_user, check_owner
from mobile_sync.store.erased_numbers import erased_numbers
from mobile_sync.errors import ServiceError, invalid
from mobile_sync.phones import clear_caches, normalize_number, region_for
from mobile_sync.plans import check_record_limit, plan_limit, record_count
from mobile_sync.store.directory_log import log_numbers
from mobile_sync.store.statistics import refresh_statistics
from schemas.contacts import COMPANY_MAX, NAME_MAX, PHONE_MAX, PHONES_MAX, SOURCE_MAX
from mobile_sync.store.models import Contact, ErasedNumber, Organization, RecordPhone, User


CSV_HEADER = ("name", "company", "email", "source", "phones")
ERRORS_SHOWN = 1000
CHUNK = 5_000  # lines per block at most
CHUNK_BYTES = 2 << 20  # and at most this much of the file
PIECE = 256 << 10  # bytes read from the file at a time
LINE_MAX = 64 << 10  # characters of one line (a valid contact needs ~2,500): a longer one fails, never held
RECORD_MAX = 1 << 20  # bytes of one record (quoted fields may span lines): past it the file is unreadable
PARALLEL_MIN = 20_000  # lines (read, or expected from the file's size) for worker processes to take over
# Numbers a worker process's normaliser keeps (~1 KB each); past it the cache starts again.
WORKER_CACHE_MAX = 20_000
ANALYZE_MIN = 10_000  # contacts imported at once
WRITER_GAP_S = 0.1  # SQLite: how long the write lock stays free between transactions (see _Checkpoints)
TRANSACTION_S = 0.2  # SQLite: about how long one of the import's transactions holds the write lock
_check_email = validate.Email()
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8
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

    def fail_lines(self, block: "Block", more: list[tuple[int, str]]) -> None:
        """Count a block's failed lines (read, and `more` found later); list
        them, in order, while fewer than ERRORS_SHOWN are listed."""
        room = ERRORS_SHOWN - len(self.errors)
        if room > 0:
            first = sorted(block.problems(room) + sorted(more)[:room])[:room]
            self.errors += [{"line": line, "message": message} for line, message in first]
        self.failed += len(block.problem_lines) + len(more)


class UnreadableFile(Exception):
    """The rest of the file cannot be read as CSV (a record without end)."""


def _bad_file(message: str) -> ServiceError:
    return invalid({"body": [message]}, message)


class CsvLines:
    """The file's lines as text, for csv.reader, read PIECE bytes at a time.

    Bytes that are not UTF-8 fail their line (but in the first piece the whole
    file, as a file in another encoding). A line longer than LINE_MAX is read
    past, never held, and handed on empty. Failed lines are kept in `bad`
    (line, why) until the caller takes them. `position`: bytes read so far.
    """

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.position = 0
        self.record_position = 0  # where the record being read started (about): set by the reader's caller
        self.bad: deque[tuple[int, str]] = deque()
        self._line = 0  # lines handed on
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        first = stream.read(PIECE)
        if not first.strip():
            raise _bad_file("The file is empty.")
        self._first = first

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._pieces())

    def _read(self) -> tuple[str, bool]:
        if self._first is not None:
            data, self._first = self._first, None
        else:
            data = self.stream.read(PIECE)
        self.position += len(data)
        if self.position - self.record_position > RECORD_MAX:
            raise UnreadableFile(f"A record is longer than {RECORD_MAX // 1024} KB (a quote never closed?).")
        first = self.position == len(data)
        text_ = self._decoder.decode(data, final=not data)
        if first:
            if _NOT_UTF8.search(text_):
                raise _bad_file("The file is not UTF-8 text.")
            text_ = text_.removeprefix("\ufeff")
        return text_, not data

    def _pieces(self) -> Iterator[list[str]]:
        tail, skipping = "", False
        while True:
            text_, final = self._read()
            if skipping:  # the rest of a line too long to hold: not part of any record
                self.record_position = self.position
                end = min((i for i in (text_.find("\n"), text_.find("\r")) if i >= 0), default=-1)
                if end < 0 and not final:
                    continue
                text_, skipping = ("" if end < 0 else text_[end + 1:]), False
                yield self._hand_on(["\n"], too_long=[0])
            text_ = tail + text_
            lines = io.StringIO(text_, newline="").readlines()
            tail = ""
            if lines and not final and (not lines[-1].endswith("\n")):
                tail = lines.pop()  # unfinished, or "\r" that "\n" may follow in the next piece
                if len(tail) > LINE_MAX:
                    tail, skipping = "", True
            too_long = [i for i, line in enumerate(lines) if len(line) > LINE_MAX] \
                if lines and max(map(len, lines)) > LINE_MAX else []
            if lines:
                yield self._hand_on(lines, too_long, not_utf8=bool(_NOT_UTF8.search(text_)))
            if final:
                if skipping:
                    yield self._hand_on(["\n"], too_long=[0])
                return

    def _hand_on(self, lines: list[str], too_long: list[int], not_utf8: bool = False) -> list[str]:
        for i in too_long:
            lines[i] = "\n"
            self.bad.append((self._line + i + 1, f"The line is longer than {LINE_MAX:,} characters."))
        if not_utf8:
            self.bad.extend((self._line + i + 1, "The line is not UTF-8 text.")
                            for i, line in enumerate(lines) if _NOT_UTF8.search(line))
            if len(self.bad) > 1:
                self.bad = deque(sorted(self.bad))
        self._line += len(lines)
        return lines

    def take_bad(self, last_line: int) -> str | None:
        """Why a record ending on `last_line` fails, if one of its lines failed
        (the bad lines up to there are forgotten)."""
        why = None
        while self.bad and self.bad[0][0] <= last_line:
            _, message = self.bad.popleft()
            why = why or message
        return why


@dataclass
class Block:
    records: list  # (line, [name, company, email, source, phones]) in the order of the file
    # The lines that are not records of five fields, and why, as two lists:
    # millions of small tuples would keep the garbage collector busy.
    problem_lines: list[int]
    problem_messages: list[str]
    position: int  # bytes of the file read when the block ended

    def problems(self, first: int) -> list[tuple[int, str]]:
        """The first `first` problems as (line, why)."""
        return list(zip(self.problem_lines[:first], self.problem_messages[:first]))


def read_blocks(stream: BinaryIO) -> Iterator[Block]:
    """The file's records after the header, by blocks of at most CHUNK lines
    and about CHUNK_BYTES. An empty file, one that does not start as UTF-8
    text, or a header that is not `name,company,email,source,phones` (in any
    order) is a 422 at once, before anything is read further."""
    lines = CsvLines(stream)
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (csv.Error, StopIteration, UnreadableFile):
        header = []
    if sorted(header) != sorted(CSV_HEADER):
        raise _bad_file("The first line must be the header " + ",".join(CSV_HEADER) + ".")
    lines.take_bad(reader.line_num)
    return _blocks(reader, lines, [header.index(name) for name in CSV_HEADER])


def _blocks(reader, lines: CsvLines, order: list[int]) -> Iterator[Block]:
    # One pass of this loop per line of the file: a 64 MB file may have 13
    # million, so it does as little as it can (and most of it in C).
    width, reorder = len(CSV_HEADER), order != list(range(len(CSV_HEADER)))
    one_field = f"Expected {width} fields, found 1."  # the usual wrong line: one message for all
    records, failed, why, started, line = [], [], [], lines.position, reader.line_num
    while True:
        try:
            for fields in reader:
                start, line = line + 1, reader.line_num  # a quoted field may span lines: where the record starts
                lines.record_position = lines.position
                if lines.bad and lines.bad[0][0] <= line:
                    failed.append(start)
                    why.append(lines.take_bad(line))
                elif len(fields) == width:
                    records.append((start, [fields[i] for i in order] if reorder else fields))
                elif len(fields) == 1:
                    if fields[0].strip():
                        failed.append(start)
                        why.append(one_field)
                elif fields and "".join(fields).strip():
                    failed.append(start)
                    why.append(f"Expected {width} fields, found {len(fields)}.")
                if len(records) + len(failed) >= CHUNK or lines.position - started >= CHUNK_BYTES:
                    yield Block(records, failed, why, lines.position)
                    records, failed, why, started = [], [], [], lines.position
            break
        except csv.Error as err:
            start, line = line + 1, reader.line_num
            failed.append(start)
            why.append(f"Not a readable CSV line ({err}).")
            lines.take_bad(line)
        except UnreadableFile as err:
            failed.append(line + 1)
            why.append(f"{err} The file was not read from this line on.")
            break
    if records or failed:
        yield Block(records, failed, why, lines.position)


def _clean_fields(fields: list[str]) -> tuple | str | None:
    """(name, company, email, source, raw phones), why the line is unusable,
    or None for a blank line (the trailing ",,,," of spreadsheets): the API
    schema's rules without its per-row cost."""
    if any("\x00" in f for f in fields):
        return "Must not contain NUL characters."
    name, company, email, source, phones = (f.strip() for f in fields)
    if not name:
        return "name: a name is required." if company or email or source or phones else None
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


def prepare_block(records: list[tuple[int, list[str]]], region: str | None,
                  cache_max: int | None = None) -> tuple[list[tuple], list[tuple[int, str]]]:
    """Clean and normalise a block of records (plain values in and out, so it
    can run in a worker process): the usable lines as (line, name, company,
    email, source, [(e164, suffix, extension, raw), ...] unique by number),
    and the others' problems as (line, why). `cache_max`: in a worker
    process, the numbers its normaliser may keep from one block to the next."""
    if cache_max is not None and normalize_number.cache_info().currsize > cache_max:
        clear_caches()
    contacts, problems = [], []
    for line, fields in records:
        values = _clean_fields(fields)
        if values is None:
            continue
        if isinstance(values, str):
            problems.append((line, values))
            continue
        name, company, email, source, raws = values
        phones, seen = [], set()
        for position, raw in enumerate(raws, start=1):
            number = normalize_number(raw, region)
            if not number.matchable:
                problems.append((line, f"phones: number {position} is not a usable phone number ({number.status})."))
                break
            if number.e164 not in seen:
                seen.add(number.e164)
                phones.append((number.e164, number.suffix, number.extension, raw))
        else:
            contacts.append((line, name, company, email, source, phones))
    return contacts, problems


def _prepared_blocks(blocks: Iterator[Block], region: str | None, workers: int, size: int | None):
    """(block, *prepare_block(block)) in the order of the file. Once PARALLEL_MIN
    lines are read, or expected (from `size` and the first block), forked
    processes (`workers`, at least one) prepare up to 2 x `workers` blocks
    ahead of the one being stored; no more are read until it is, so memory does not
    grow with the file. The numbers of a large file, new to the normaliser,
    are cached in those processes and end with them."""
    pool, ahead, lines_read, bytes_read, workers = None, deque(), 0, 0, max(1, workers)
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    try:
        for block in blocks:
            expected = lines_read * size / bytes_read if size and bytes_read else lines_read
            if pool is None and can_fork and max(lines_read, expected) >= PARALLEL_MIN:
                pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
            lines_read += len(block.records) + len(block.problem_lines)
            bytes_read = block.position
            if pool is None:
                yield (block, *prepare_block(block.records, region))
                continue
            ahead.append((block, pool.submit(prepare_block, block.records, region, WORKER_CACHE_MAX)))
            if len(ahead) > 2 * workers:
                done, future = ahead.popleft()
                yield (done, *future.result())
        while ahead:
            done, future = ahead.popleft()
            yield (done, *future.result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


class _Checkpoints:
    """Commits between blocks (the caller's `checkpoint`). On SQLite one
    writer at a time holds the database, and a request waiting for it tries
    again at most every 100 ms (its busy handler): the next transaction's
    first statement waits until the lock has been free WRITER_GAP_S, and each
    transaction stores as many contacts as it takes about TRANSACTION_S to
    (the whole block, unless the machine is busy), so that a request of
    another organisation waits for one short transaction, not the import."""

    def __init__(self, session, checkpoint: Callable[[], None] | None):
        self.checkpoint = checkpoint
        self.sqlite = checkpoint is not None and session.get_bind().dialect.name == "sqlite"
        self.committed_at: float | None = None
        self.began = 0.0
        self.size = CHUNK  # contacts per transaction

    def commit(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint()
            self.committed_at = time.monotonic()

    def wait_turn(self) -> None:
        if self.sqlite and self.committed_at is not None:
            time.sleep(max(0.0, self.committed_at + WRITER_GAP_S - time.monotonic()))
        self.began = time.monotonic()

    def parts(self, items: list) -> Iterator[list]:
        """`items` in parts, each committed once the caller has stored it (in
        the transaction begun after wait_turn); an empty list commits too."""
        done = 0
        while True:
            part = items[done:done + self.size]
            yield part
            self.commit()
            done += len(part)
            if self.sqlite and part:
                took = max(self.committed_at - self.began, 1e-3)
                self.size = max(CHUNK // 20, min(CHUNK, int(len(part) * TRANSACTION_S / took)))
            if done >= len(items):
                return
            self.wait_turn()


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in(column, values: list):
    """`column IN (values)` with the values written into the SQL (PostgreSQL):
    each chunk's statement is then new to the server, so PostgreSQL plans it
    with the values known (and hashes the list) instead of falling back,
    after a few executions of a prepared statement, to a generic plan that
    compares every row with every value."""
    return column.in_(bindparam(f"{column.name}_values", values, literal_execute=True))


# SQLite: the numbers as one JSON parameter, so the statement is prepared
# once; a text per chunk would each stay in the driver's statement cache
# (~1 MB for 5,000 values: the import's memory grew by 50 MB in 300,000 lines).
_SQLITE_EXISTING_KEYS = text("""
    SELECT c.name, p.e164 FROM record_phones AS p
    JOIN contacts AS c ON c.id = p.record_id AND c.organization_id = p.organization_id
    WHERE p.organization_id = :org AND p.record_type = :record_type
      AND p.e164 IN (SELECT value FROM json_each(:numbers))""")


def _existing_keys(session, organization_id: int, first_numbers: set[str]) -> set[tuple[str, str]]:
    """(lower-cased name, number) of the organisation's contacts having one of `first_numbers`."""
    keys: set[tuple[str, str]] = set()
    if session.get_bind().dialect.name != "postgresql":
        for chunk in _chunks(sorted(first_numbers), 5000):
            rows = session.execute(_SQLITE_EXISTING_KEYS, {"org": organization_id, "record_type": RECORD_TYPE,
                                                           "numbers": json.dumps(chunk)})
            keys.update((name.lower(), e164) for name, e164 in rows)
        return keys
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


def import_contacts_csv(session, *, org: Organization, stream: BinaryIO, owner_id: int | None,
                        region: str | None, hash_key: str, now: datetime, workers: int = 1,
                        checkpoint: Callable[[], None] | None = None, size: int | None = None,
                        progress: Progress | None = None) -> ImportReport:
    """Import a CSV of contacts (header `name,company,email,source,phones`,
    phones separated by `;`) read from the binary `stream`. A bad line is
    reported by its line number and the rest are imported. A line whose
    (name, first number) is already a contact, in the database or earlier in
    the file, is a duplicate, so importing the same file again adds nothing.
    A number erased at its owner's request fails its line rather than bring
    the person back. `checkpoint` (the caller's commit) runs before the file is
    read and after each block stored. Over the plan's record limit, the block
    that would cross it and the rest of the file are not imported (403);
    earlier blocks stay. `size`: the file's bytes, if known (for `progress`,
    and to fork workers for a large file from its second block)."""
    report = ImportReport()
    blocks = read_blocks(stream)
    has_contacts = session.execute(select(exists().where(Contact.organization_id == org.id))).scalar()
    any_erased = session.execute(select(exists().where(ErasedNumber.organization_id == org.id))).scalar()
    limit = plan_limit(org, "record_limit")
    headroom = None if limit is None else limit - record_count(session, org.id)
    checkpoints = _Checkpoints(session, checkpoint)
    checkpoints.commit()  # the request's own writes: the file is read without holding a lock
    for block, contacts, problems in _prepared_blocks(blocks, region_for(region, org.region), workers, size):
        if contacts:
            checkpoints.wait_turn()
            new = _new_contacts(session, org.id, contacts, problems, report, hash_key, has_contacts, any_erased)
            if headroom is not None and report.imported + len(new) > headroom:
                _check_limit(session, org, new, report)
            for part in checkpoints.parts(new):
                if part:
                    _store(session, org.id, owner_id, part, now)
                    report.imported += len(part)
            has_contacts = has_contacts or bool(new)
        report.fail_lines(block, problems)
        if progress:
            progress("importing", block.position, max(size or 0, block.position))
    if report.imported >= ANALYZE_MIN:
        # As after any bulk load: fresh statistics for the phone index, so that
        # caller ID's look-ups are planned for its new size (on PostgreSQL
        # before autovacuum gets to it).
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE record_phones"))
        else:
            refresh_statistics(session)
    return report


def _new_contacts(session, organization_id: int, contacts: list[tuple], problems: list, report: ImportReport,
                  hash_key: str, has_contacts: bool, any_erased: bool) -> list[tuple]:
    """The block's contacts that are neither erased (those fail their line) nor
    duplicates (counted) of a contact in the database or earlier in the block;
    earlier blocks are in the database already."""
    erased = _erased(session, organization_id, {p[0] for c in contacts for p in c[5]}, hash_key) \
        if any_erased else set()
    seen_keys = _existing_keys(session, organization_id, {c[5][0][0] for c in contacts}) if has_contacts else set()
    new = []
    for contact in contacts:
        if erased and any(phone[0] in erased for phone in contact[5]):
            problems.append((contact[0], "phones: a number on this line was erased at the person's request."))
            continue
        key = (contact[1].lower(), contact[5][0][0])
        if key in seen_keys:
            report.duplicates += 1
            continue
        seen_keys.add(key)
        new.append(contact)
    return new


def _check_limit(session, org: Organization, new: list[tuple], report: ImportReport) -> None:
    """The plan's refusal (it counts again); after earlier blocks were stored, it says what they were."""
    try:
        check_record_limit(session, org, len(new))
    except ServiceError as err:
        if not report.imported:
            raise
        raise ServiceError(err.status, err.code, (
            f"The plan's record limit is reached: {report.imported} contacts of this file, before line "
            f"{new[0][0]}, were imported; nothing from that line on. Importing the file again after "
            "raising the limit or deleting old data adds only the rest."))


def _store(session, organization_id: int, owner_id: int | None, contacts: list[tuple], now: datetime) -> None:
    """New contacts, their numbers (written here in bulk: COPY on PostgreSQL)
    and so the directory log's rows for them."""
    ids = _reserve_ids(session, Contact.__table__, len(contacts))
    _bulk_insert(session, Contact.__table__, CONTACT_COLUMNS, [
        (contact_id, organization_id, name, company, email, source, owner_id, now, now)
        for contact_id, (_, name, company, email, source, _) in zip(ids, contacts)])
    _bulk_insert(session, RecordPhone.__table__, PHONE_COLUMNS, [
        (organization_id, RECORD_TYPE, contact_id, e164, suffix, raw, extension)
        for contact_id, contact in zip(ids, contacts) for e164, suffix, extension, raw in contact[5]])
    log_numbers(session, organization_id, {phone[0] for contact in contacts for phone in contact[5]}, now)


def import_owner(session, organization_id: int, user: User | None, owner_id: int | None) -> int | None:
    """The owner of imported contacts: the importer (none from the command
    line) unless another active user of the organisation is named."""
    if user is not None:
        return user.id if owner_id is None else check_owner(session, organization_id, user, owner_id)
    if owner_id is not None:
        check_active_user(session, organization_id, owner_id)
    return owner_id
