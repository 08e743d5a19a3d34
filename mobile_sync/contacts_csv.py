"""Importing contacts from a file, in bulk, streamed: our CSV, the CSV
exports of Google Contacts, Outlook, HubSpot and Pipedrive, vCard and .xlsx,
the format told from the content (`contact_files`).

100,000 lines must import in seconds, and a file of any size in bounded
memory. The file is read a piece at a time and imported by blocks of lines
(`contact_csv_file`, `contact_files`); nothing grows with the file but
counters and the first ERRORS_SHOWN problems. Lines are cleaned and their numbers normalised by
worker processes for a large file (`contact_csv_rows`), and each block's new
contacts are stored in bulk (`store.contact_import`: nothing per line on the
database).

Each block is committed by the caller's `checkpoint` before the next is read:
what was accepted stays if a later line, the record limit or the process
fails; importing the file again adds only the rest (duplicates are found in
the database). On SQLite, the one write lock is free between blocks. A
dry run does all of it but store, and says what would be.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Callable, Iterator

from sqlalchemy import exists, select

from mobile_sync.contact_csv_file import Block
from mobile_sync.contact_files import open_contact_file
from mobile_sync.contact_csv_rows import default_workers, prepared_blocks
from mobile_sync.contacts import check_active_user, check_owner
from mobile_sync.errors import ServiceError
from mobile_sync.phones import region_for
from mobile_sync.plans import check_record_limit, plan_limit, record_count
from mobile_sync.number_filter import NumberFilter
from mobile_sync.store.contact_import import (
    OtherWrites, analyse_after_import, contacts_besides, existing_contact_keys, insert_contacts,
    writers_take_turns)
from mobile_sync.phone_index import record_numbers
from mobile_sync.store.directory_log import add_record_phones
from mobile_sync.store.erased_numbers import erased_numbers
from schemas.contacts import PHONES_MAX
from mobile_sync.store.models import Contact, ErasedNumber, Organization, User

__all__ = ["ImportReport", "default_workers", "import_contact_file", "import_owner"]

ERRORS_SHOWN = 1000
ANALYZE_MIN = 10_000  # contacts imported at once
ERASED_CHUNK = 5_000  # numbers per look-up of erased ones
TRANSACTION_MAX = 5_000  # contacts stored in one transaction at most
DRY_RUN_KEYS_MAX = 500_000  # a dry run's (name, number) keys kept to find duplicates across blocks
WRITER_GAP_S = 0.1  # SQLite: how long the write lock stays free between transactions (see _Checkpoints)
# SQLite: about how long one of the import's transactions holds the write lock while other
# connections write, and (ALONE: the wait of a writer that comes) while none has for TAKING_TURNS_S.
TRANSACTION_S, TRANSACTION_ALONE_S, TAKING_TURNS_S = 0.2, 0.5, 2.0
# SQLite: contacts per transaction at least. On a busy machine (load 4+ on 2 CPUs) while
# others write, transactions shrink to this, and 100,000 contacts then take 400 gaps and
# commits; larger ones would lengthen another writer's wait, which
# tests/api/test_contact_csv_import_at_scale.py bounds at a second: fairness wins here.
TRANSACTION_MIN = 250
Progress = Callable[[str, int, int, "ImportReport"], None]  # (stage, done, total, the counts so far)


@dataclass
class ImportReport:
    """`imported`: contacts stored (in a dry run: that would be); `duplicates`
    (also answered as `merged`): lines that are contacts already, by name and
    number, not stored again (their other numbers added to that contact); `failed` (also `skipped`): lines not imported,
    the first ERRORS_SHOWN listed in `errors` by line."""
    imported: int = 0
    duplicates: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)
    format: str | None = None
    mapping: dict = field(default_factory=dict)
    dry_run: bool = False
    numbers_added: int = 0  # numbers of duplicates added to the contacts they were merged into

    @property
    def merged(self) -> int:
        return self.duplicates

    @property
    def skipped(self) -> int:
        return self.failed

    def fail(self, line: int, message: str) -> None:
        self.failed += 1
        if len(self.errors) < ERRORS_SHOWN:
            self.errors.append({"line": line, "message": message})

    def fail_lines(self, block: Block, more: list[tuple[int, str]]) -> None:
        """Count a block's failed lines (read, and `more` found later); list
        them, in order, while fewer than ERRORS_SHOWN are listed."""
        room = ERRORS_SHOWN - len(self.errors)
        if room > 0:
            first = sorted(block.problems(room) + sorted(more)[:room])[:room]
            self.errors += [{"line": line, "message": message} for line, message in first]
        self.failed += len(block.problem_lines) + len(more)


class _Checkpoints:
    """Commits between blocks (the caller's `checkpoint`). On SQLite one
    writer at a time holds the database, and a request waiting for it tries
    again at most every 100 ms (its busy handler): the next transaction's
    first statement waits until the lock has been free WRITER_GAP_S, and each
    transaction stores as many contacts as it takes about TRANSACTION_S to
    while other connections write (one did in a gap within TAKING_TURNS_S),
    so that a request of another organisation waits for one short
    transaction, not the import. While none writes, a transaction takes up
    to TRANSACTION_ALONE_S (the whole block, unless the machine is busy):
    shrunk for the load of other processes, with nobody waiting, they cost
    3.1 s of 9.9 s asleep in gaps on a quiet machine (100,000 contacts).
    A write seen in a gap shrinks the next transaction at once. The gap
    also checkpoints the WAL, which the import's commits leave to it."""

    def __init__(self, session, checkpoint: Callable[[], None] | None, idle: Callable[[], None] = lambda: None):
        self.session, self.checkpoint = session, checkpoint
        self.take_turns = checkpoint is not None and writers_take_turns(session)
        self.others = OtherWrites(session) if self.take_turns else None
        self.committed_at: float | None = None
        self.began = 0.0
        self.rate: float | None = None  # contacts stored per second of a transaction, the last one
        self.others_wrote_at = -TAKING_TURNS_S  # when a gap last saw another connection's commit
        self.idle = idle  # work that needs no write lock, done in a gap rather than sleeping through it

    def close(self) -> None:
        if self.others is not None:
            self.others.close()

    def commit(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint()
            self.committed_at = time.monotonic()
            self.commit_seen()

    def commit_seen(self) -> None:
        """The import's own session may have committed (not `commit`): not another's write."""
        if self.others is not None:
            self.others.changed()

    def wait_turn(self) -> None:
        if self.take_turns and self.committed_at is not None:
            self.idle()
            self.others.checkpoint()
            time.sleep(max(0.0, self.committed_at + WRITER_GAP_S - time.monotonic()))
            if self.others.changed():
                self.others_wrote_at = time.monotonic()
        self.began = time.monotonic()
        if self.take_turns:
            self.others.begin_turn(self.session)

    @property
    def size(self) -> int:
        """Contacts for the next transaction."""
        if not self.take_turns or self.rate is None:
            return TRANSACTION_MAX
        alone = time.monotonic() - self.others_wrote_at > TAKING_TURNS_S
        return max(TRANSACTION_MIN, min(TRANSACTION_MAX, int(
            self.rate * (TRANSACTION_ALONE_S if alone else TRANSACTION_S))))

    def parts(self, items: list) -> Iterator[list]:
        """`items` in parts, each committed once the caller has stored it (in
        the transaction begun after wait_turn); an empty list commits too."""
        done = 0
        while True:
            part = items[done:done + self.size]
            yield part
            self.commit()
            done += len(part)
            if self.take_turns and part:
                self.rate = len(part) / max(self.committed_at - self.began, 1e-3)
            if done >= len(items):
                return
            self.wait_turn()


def _erased(session, organization_id: int, numbers: set[str], hash_key: str) -> set[str]:
    """Those of `numbers` erased in the organisation, looked up ERASED_CHUNK at a time."""
    found: set[str] = set()
    numbers = sorted(numbers)
    for start in range(0, len(numbers), ERASED_CHUNK):
        found |= erased_numbers(session, organization_id, numbers[start:start + ERASED_CHUNK], hash_key)
    return found


def import_contact_file(session, *, org: Organization, stream: BinaryIO, owner_id: int | None,
                        region: str | None, hash_key: str, now: datetime, workers: int = 1,
                        checkpoint: Callable[[], None] | None = None, size: int | None = None,
                        progress: Progress | None = None, mapping: dict | None = None,
                        dry_run: bool = False) -> ImportReport:
    """Import a file of contacts read from the binary `stream`, its format
    detected from its content (`contact_files`), its columns read with
    `mapping` (column → field) when given, else the detected one. A file that
    cannot be imported at all is refused (422) before anything is stored. A
    bad line is reported by its line number (a card by its BEGIN line, a
    worksheet's row by its number) and the rest are imported. A line whose
    name is already a contact's holding one of its numbers, in the database
    or earlier in the file, is a duplicate (`merged`: not created twice), so
    importing the same file again adds nothing. `dry_run`: everything but
    storing (`checkpoint` runs only before the file is read).
    A number erased at its owner's request fails its line rather than bring
    the person back. `checkpoint` (the caller's commit) runs before the file is
    read and after each block stored. Over the plan's record limit, the block
    that would cross it and the rest of the file are not imported (403);
    earlier blocks stay. `size`: the file's bytes, if known (for `progress`,
    and to fork workers for a large file from its first block)."""
    if checkpoint is not None:
        checkpoint()  # the request's own writes: the file is read (an .xlsx received whole) holding no lock
    opened = open_contact_file(stream, mapping, size)
    try:
        return _import(session, opened, org=org, owner_id=owner_id, region=region, hash_key=hash_key, now=now,
                       workers=workers, checkpoint=None if dry_run else checkpoint, size=size, progress=progress,
                       dry_run=dry_run)
    finally:
        opened.close()


def _import(session, opened, *, org, owner_id, region, hash_key, now, workers, checkpoint, size, progress,
            dry_run) -> ImportReport:
    report = ImportReport(format=opened.format, mapping=opened.mapping, dry_run=dry_run)
    carried: set | None = set() if dry_run else None  # a dry run's keys of earlier blocks (nothing stored)
    has_contacts = session.execute(select(exists().where(Contact.organization_id == org.id))).scalar()
    # While the organisation holds no contact but this import's, only the
    # numbers this import stored can be duplicates: those the filter may hold
    # are looked up, not the block's every number (a first import of a file).
    ours = NumberFilter() if not (has_contacts or dry_run) else None
    any_erased = session.execute(select(exists().where(ErasedNumber.organization_id == org.id))).scalar()
    limit = plan_limit(org, "record_limit")
    headroom = None if limit is None else limit - record_count(session, org.id)
    blocks = _Ahead(prepared_blocks(opened.blocks, region_for(region, org.region), workers, size))
    checkpoints = _Checkpoints(session, checkpoint, idle=blocks.fetch)
    try:
        checkpoints.commit()  # the request's own writes: the file is read without holding a lock
        for block, contacts, problems in blocks:
            if contacts and dry_run:
                new, _ = _new_contacts(session, org.id, contacts, problems, report, hash_key, has_contacts,
                                       any_erased, carried)
                report.imported += len(new)
            elif contacts:
                checkpoints.wait_turn()
                if ours is not None and has_contacts and contacts_besides(session, org.id, now):
                    ours = None  # someone else's contact came in meanwhile: look every number up
                new, added = _new_contacts(session, org.id, contacts, problems, report, hash_key, has_contacts,
                                           any_erased, look_up=None if ours is None else ours.may_hold)
                if ours is not None:
                    ours.add(phone[0] for contact in new for phone in contact[5])
                    ours.add(row["e164"] for row in added)
                if headroom is not None and report.imported + len(new) > headroom:
                    _check_limit(session, org, new, report)
                for part in checkpoints.parts(new):
                    if added:  # numbers that duplicates bring to contacts of earlier blocks or of before
                        add_record_phones(session, org.id, added, now)
                        report.numbers_added += len(added)
                        added = []
                    if part:
                        insert_contacts(session, org.id, owner_id, part, now)
                        report.imported += len(part)
                has_contacts = has_contacts or bool(new)
            report.fail_lines(block, problems)
            if progress:
                progress("importing", block.position, max(size or 0, block.position), report)
                checkpoints.commit_seen()  # progress may be committed (a background import's)
    finally:
        checkpoints.close()
    if report.imported >= ANALYZE_MIN and not dry_run:
        analyse_after_import(session)  # as after any bulk load
    return report


class _Ahead:
    """The prepared blocks, one of them read ahead when `fetch` is called (in
    a gap between transactions, where the import would otherwise sleep). A
    failure while reading ahead is raised when its block would have been
    reached, so the blocks before it are stored as they were."""

    def __init__(self, items: Iterator):
        self._items = items
        self._next: list = []  # [item] or [exception] read ahead, or nothing
        self._failed = False

    def fetch(self) -> None:
        if not self._next:
            try:
                self._next.append(next(self._items))
            except Exception as err:  # StopIteration too: the end, reached early
                self._next.append(err)
                self._failed = True

    def __iter__(self) -> "_Ahead":
        return self

    def __next__(self):
        self.fetch()
        item = self._next.pop()
        if self._failed:
            raise item
        return item


def _new_contacts(session, organization_id: int, contacts: list[tuple], problems: list, report: ImportReport,
                  hash_key: str, has_contacts: bool, any_erased: bool,
                  carried: set | None = None, look_up=None) -> tuple[list[tuple], list[dict]]:
    """The block's contacts that are neither erased (those fail their line) nor
    duplicates (counted) of a contact in the database or earlier in the block:
    a contact of the same name (any case) holding one of its numbers. Earlier
    blocks are in the database already, or, in a dry run, in `carried`.
    `look_up`: which numbers may be in the database (all, without it).

    A duplicate's other numbers go to the contact it is merged into, while
    that contact has fewer than PHONES_MAX: to a new one of the block in its
    list, to one in the database as the rows returned (`add_record_phones`)."""
    numbers = {p[0] for c in contacts for p in c[5]}
    erased = _erased(session, organization_id, numbers, hash_key) if any_erased else set()
    if has_contacts and look_up is not None:
        numbers_held = {number for number in numbers if look_up(number)}
    else:
        numbers_held = numbers if has_contacts else ()
    stored = existing_contact_keys(session, organization_id, numbers_held) if numbers_held else {}
    earlier = carried or ()
    new, pending, merged_into = [], {}, {}  # pending: key -> a new contact of this block
    for contact in contacts:
        if erased and any(phone[0] in erased for phone in contact[5]):
            problems.append((contact[0], "phones: a number on this line was erased at the person's request."))
            continue
        name = contact[1].lower()
        keys = [(name, phone[0]) for phone in contact[5]]
        target = None
        for key in keys:  # a loop, not next() over a generator: once per line
            if key in pending or key in stored or key in earlier:
                target = key
                break
        if target is not None:
            report.duplicates += 1
            if len(contact[5]) > 1:
                if target in pending:
                    _merge_numbers(pending[target][5], contact[5], pending, pending[target], name)
                elif target in stored:
                    merged_into.setdefault(stored[target], []).extend(contact[5])
                    stored.update((key, stored[target]) for key in keys)
            continue
        pending.update(dict.fromkeys(keys, contact))
        new.append(contact)
    if carried is not None and len(carried) < DRY_RUN_KEYS_MAX:
        carried.update((c[1].lower(), phone[0]) for c in new for phone in c[5])
    return new, ([] if carried is not None else _numbers_to_add(session, organization_id, merged_into))


def _merge_numbers(held: list, more: list, pending: dict, contact: tuple, name: str) -> list:
    """Add to `held` (a contact's numbers) those of `more` it lacks, up to PHONES_MAX; return those added."""
    have = {phone[0] for phone in held}
    added = []
    for phone in more:
        if len(held) >= PHONES_MAX:
            break
        if phone[0] not in have:
            have.add(phone[0])
            held.append(phone)
            added.append(phone)
            pending[(name, phone[0])] = contact
    return added


def _numbers_to_add(session, organization_id: int, merged_into: dict[int, list]) -> list[dict]:
    """Phone index rows for the numbers that duplicates bring to contacts in the database."""
    if not merged_into:
        return []
    held = record_numbers(session, organization_id, "contact", sorted(merged_into))
    rows = []
    for contact_id, phones in merged_into.items():
        current = [(e164,) for e164 in held.get(contact_id, [])]
        for e164, suffix, extension, raw in _merge_numbers(current, phones, {}, (), ""):
            rows.append({"record_type": "contact", "record_id": contact_id, "e164": e164, "suffix": suffix,
                         "raw": raw[:64], "extension": extension})
    return rows


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


def import_owner(session, organization_id: int, user: User | None, owner_id: int | None) -> int | None:
    """The owner of imported contacts: the importer (none from the command
    line) unless another active user of the organisation is named."""
    if user is not None:
        return user.id if owner_id is None else check_owner(session, organization_id, user, owner_id)
    if owner_id is not None:
        check_active_user(session, organization_id, owner_id)
    return owner_id
