"""Erasing a person at their request, by phone number or by record.

By number: every call with it; the contacts and leads holding it, with
everything of theirs (notes, tasks, index rows, the calls linked to them, the
leads merged into them); the phone-book contacts holding it; suppressions,
pushes and directory entries derived from it; teammates lose it as their own
number; notes that quote it have it blanked out. By record: the record and
everything of it, and every number it held, erased as above.

What an erasure covers is selected once (`record_scope`, `number_scope`):
the erasure deletes that, and a preview (`preview_record`, `preview_phone`,
the API's dry run and the erasure page) counts it with the same conditions.

What is left is one salted hash per number in `erased_numbers`, so later
uploads of the number are dropped (see `mobile_sync.erasure_check`). Nothing
is queued: background jobs take ids only and Redis never sees the number.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from sqlalchemy import and_, delete, func, or_, select, update

from mobile_sync.errors import not_found
from mobile_sync.lead_rules import SUPPRESS
from mobile_sync.number_hash import ERASED, PHONEBOOK, number_hash
from mobile_sync.phone_index import parse_phones
from mobile_sync.phones import region_for
# Deleting calls updates the report rollups through the store's deletion hook, which this registers.
import mobile_sync.reports.rollup  # noqa: F401,E402
from mobile_sync.store.directory_log import delete_record_phones, forget_number
from mobile_sync.store.locks import lock_erasure
from mobile_sync.store.models import (
    Call, Contact, ErasedNumber, Lead, Note, Organization, PhonebookContact, PhonebookNumber, PushMessage,
    RecordPhone, Suppression, Task, User,
)
from mobile_sync.webhooks.events import emit_erasure

RECORD_MODELS = {"contact": Contact, "lead": Lead}
# Every table an erasure deletes from, reported even when nothing was there.
# What a preview counts (of DELETED_TABLES), exactly as the erasure will delete it.
PREVIEWED_TABLES = ("contacts", "leads", "calls", "notes", "tasks", "record_phones")
NAMES_SHOWN = 50
DELETED_TABLES = ("calls", "contacts", "leads", "notes", "tasks", "record_phones", "directory_changes",
                  "phonebook_contacts", "phonebook_numbers", "suppressions", "push_messages")
REDACTED = "[erased]"
CHUNK = 500


@dataclass
class ErasureResult:
    deleted: Counter = field(default_factory=lambda: Counter({name: 0 for name in DELETED_TABLES}))
    redacted: Counter = field(default_factory=Counter)
    numbers_erased: int = 0
    # What was asked for, for the access audit (ids only).
    record_type: str | None = None
    record_id: int | None = None
    # A preview: nothing deleted; `deleted` holds PREVIEWED_TABLES, with the
    # numbers (E.164) and the records (type, id, name; the first NAMES_SHOWN) that would go.
    dry_run: bool = False
    numbers: list = field(default_factory=list)
    records: list = field(default_factory=list)

    @property
    def total_deleted(self) -> int:
        return sum(self.deleted.values())

    def finish(self) -> "ErasureResult":
        self.redacted = Counter({name: count for name, count in self.redacted.items() if count})
        return self


def _chunks(ids: list, size: int = CHUNK):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _rows_changed(session, statement) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


@dataclass
class ErasureScope:
    """What an erasure covers: `records` (type, id), the record asked for,
    every contact and lead holding one of `numbers`, and the leads merged
    into any of them; `numbers` (E.164), each erased everywhere; and
    `unparsed_calls`, calls whose number could not be read but whose raw
    digits are one of the numbers."""
    records: set
    numbers: set
    unparsed_calls: list


def number_scope(session, org_id: int, numbers: set[str], records: set[tuple[str, int]] = frozenset()) -> ErasureScope:
    """The scope of erasing `numbers` (and `records`, whose numbers they are)."""
    refs = set(records) | _holders(session, org_id, numbers)
    unparsed = sorted({call_id for e164 in numbers for call_id in _unparsed_call_ids(session, org_id, e164)})
    return ErasureScope(records=_with_merged(session, org_id, refs), numbers=set(numbers), unparsed_calls=unparsed)


def record_scope(session, org_id: int, record_type: str, record_id: int) -> ErasureScope:
    """The scope of erasing a contact or lead: it, and every number it holds (404 if not the organisation's)."""
    model = RECORD_MODELS.get(record_type)
    record = session.execute(select(model).where(model.id == record_id, model.organization_id == org_id)
                             .execution_options(all_organizations=True)).scalar_one_or_none() if model else None
    if record is None:
        raise not_found(record_type if model else "record type")
    numbers = set(session.execute(select(RecordPhone.e164).where(
        RecordPhone.organization_id == org_id, RecordPhone.record_type == record_type,
        RecordPhone.record_id == record_id)).scalars())
    if record_type == "lead" and record.phone:
        numbers.add(record.phone)
    return number_scope(session, org_id, numbers, {(record_type, record_id)})


def _phone_number(org: Organization, raw_phone: str, region: str | None) -> str:
    return parse_phones([raw_phone], region_for(region, org.region), field="phone")[0].e164


def erase_phone(session, *, org: Organization, raw_phone: str, region: str | None, hash_key: str,
                now: datetime) -> ErasureResult:
    """Erase everything about one number (read with `region`, else the organisation's)."""
    e164 = _phone_number(org, raw_phone, region)
    lock_erasure(session, org.id)
    return _erase(session, org, number_scope(session, org.id, {e164}), ErasureResult(), hash_key, now)


def erase_record(session, *, org: Organization, record_type: str, record_id: int, hash_key: str,
                 now: datetime) -> ErasureResult:
    """Erase a contact or lead, everything of it, and every number it held."""
    if record_type in RECORD_MODELS:
        lock_erasure(session, org.id)
    scope = record_scope(session, org.id, record_type, record_id)
    return _erase(session, org, scope, ErasureResult(record_type=record_type, record_id=record_id), hash_key, now)


def _erase(session, org: Organization, scope: ErasureScope, result: ErasureResult, hash_key: str,
           now: datetime) -> ErasureResult:
    # The records first, so their other numbers are not announced to the
    # phones' directories as "changed" while they are being erased.
    _delete_records(session, org.id, scope.records, scope.numbers, now, result)
    for e164 in sorted(scope.numbers):
        erase_number(session, org=org, e164=e164, hash_key=hash_key, now=now, result=result)
    session.flush()
    emit_erasure(session, org.id, result.deleted, now)  # webhooks: counts only
    return result.finish()


def preview_phone(session, *, org: Organization, raw_phone: str, region: str | None) -> ErasureResult:
    """What erasing a number would delete (PREVIEWED_TABLES), deleting nothing."""
    e164 = _phone_number(org, raw_phone, region)
    return _preview(session, org.id, number_scope(session, org.id, {e164}), ErasureResult(dry_run=True))


def preview_record(session, *, org: Organization, record_type: str, record_id: int) -> ErasureResult:
    """What erasing a contact or lead would delete (PREVIEWED_TABLES), deleting nothing."""
    scope = record_scope(session, org.id, record_type, record_id)
    return _preview(session, org.id, scope,
                    ErasureResult(record_type=record_type, record_id=record_id, dry_run=True))


def _preview(session, org_id: int, scope: ErasureScope, result: ErasureResult) -> ErasureResult:
    """Count what `_erase` deletes of PREVIEWED_TABLES: the rows of the scope's
    records (`_of_records`) or of its numbers, each row once."""
    numbers = sorted(scope.numbers)

    def count(model, *conditions) -> int:
        conditions = [c for c in conditions if c is not None]
        if not conditions:
            return 0
        return session.execute(select(func.count()).select_from(model).where(
            model.organization_id == org_id, or_(*conditions))).scalar_one()

    by_number = (lambda column: column.in_(numbers)) if numbers else (lambda column: None)
    result.deleted = Counter({name: 0 for name in PREVIEWED_TABLES})
    for record_type, model in RECORD_MODELS.items():
        result.deleted[model.__tablename__] = sum(1 for rtype, _ in scope.records if rtype == record_type)
    result.deleted["calls"] = count(Call, _of_records(Call, scope.records), by_number(Call.e164),
                                    Call.id.in_(scope.unparsed_calls) if scope.unparsed_calls else None)
    result.deleted["notes"] = count(Note, _of_records(Note, scope.records))
    result.deleted["tasks"] = count(Task, _of_records(Task, scope.records), by_number(Task.e164))
    result.deleted["record_phones"] = count(RecordPhone, _of_records(RecordPhone, scope.records),
                                            by_number(RecordPhone.e164))
    result.numbers_erased = len(numbers)
    result.numbers = numbers
    result.records = _names(session, org_id, scope.records)
    return result


def _of_records(model, refs) -> object | None:
    """Rows of `model` (notes, tasks, calls, index rows) belonging to the records `refs`."""
    parts = [and_(model.record_type == record_type, model.record_id.in_(chunk))
             for record_type in RECORD_MODELS
             for chunk in _chunks(sorted(rid for rtype, rid in refs if rtype == record_type))]
    return or_(*parts) if parts else None


def _names(session, org_id: int, refs) -> list[tuple[str, int, str]]:
    """(type, id, name) of the first NAMES_SHOWN records, for the person who confirms."""
    out = []
    for record_type, model in RECORD_MODELS.items():
        ids = sorted(rid for rtype, rid in refs if rtype == record_type)[:NAMES_SHOWN - len(out)]
        if ids:
            out += [(record_type, rid, name) for rid, name in session.execute(
                select(model.id, model.name).where(model.organization_id == org_id, model.id.in_(ids))
                .order_by(model.id))]
    return out


def _holders(session, org_id: int, numbers) -> set[tuple[str, int]]:
    """The contacts and leads holding any of `numbers`."""
    numbers = sorted(numbers)
    if not numbers:
        return set()
    holders = {tuple(row) for row in session.execute(select(RecordPhone.record_type, RecordPhone.record_id).where(
        RecordPhone.organization_id == org_id, RecordPhone.e164.in_(numbers),
        RecordPhone.record_type.in_(list(RECORD_MODELS))))}
    return holders | {("lead", lead_id) for lead_id in session.execute(
        select(Lead.id).where(Lead.organization_id == org_id, Lead.phone.in_(numbers))).scalars()}


def erase_number(session, *, org: Organization, e164: str, hash_key: str, now: datetime,
                 result: ErasureResult) -> None:
    """Erase one E.164 number of the organisation; add what went to `result`."""
    org_id = org.id
    _delete_records(session, org_id, _holders(session, org_id, {e164}), {e164}, now, result)

    result.deleted["calls"] += _rows_changed(session, delete(Call).where(
        Call.organization_id == org_id, Call.e164 == e164))
    result.deleted["calls"] += _delete_unparsed_calls(session, org_id, e164)
    result.redacted["calls"] += _rows_changed(session, update(Call).where(
        Call.organization_id == org_id, Call.via_e164 == e164).values(via_number=None, via_e164=None))
    result.deleted["tasks"] += _rows_changed(session, delete(Task).where(
        Task.organization_id == org_id, Task.e164 == e164))
    result.redacted["users"] += _rows_changed(session, update(User).where(
        User.organization_id == org_id, User.phone == e164).values(phone=None))
    result.deleted["record_phones"] += len(delete_record_phones(
        session, org_id, RecordPhone.e164 == e164, now=now, unannounced={e164}))
    # Phones that cached the card must drop it though its change rows are gone.
    result.deleted["directory_changes"] += forget_number(session, org, e164)

    book_hash = number_hash(hash_key, PHONEBOOK, org_id, e164)
    book_ids = list(session.execute(select(PhonebookNumber.contact_id).where(
        PhonebookNumber.organization_id == org_id,
        or_(PhonebookNumber.number_hash == book_hash, PhonebookNumber.e164 == e164))).scalars().unique())
    for ids in _chunks(book_ids):
        result.deleted["phonebook_numbers"] += _rows_changed(session, delete(PhonebookNumber).where(
            PhonebookNumber.contact_id.in_(ids)))
        result.deleted["phonebook_contacts"] += _rows_changed(session, delete(PhonebookContact).where(
            PhonebookContact.id.in_(ids)))
    result.deleted["suppressions"] += _rows_changed(session, delete(Suppression).where(
        Suppression.organization_id == org_id,
        Suppression.number_hash == number_hash(hash_key, SUPPRESS, org_id, e164)))
    # Collapse keys are "<kind>-<first 20 hex digits of the number's keyed hash>".
    collapse = number_hash(hash_key, "collapse", org_id, e164)[:20]
    result.deleted["push_messages"] += _rows_changed(session, delete(PushMessage).where(
        PushMessage.organization_id == org_id, PushMessage.collapse_key.like(f"%-{collapse}")))
    _redact_texts(session, org, e164, result)

    digest = number_hash(hash_key, ERASED, org_id, e164)
    exists = session.execute(select(ErasedNumber.id).where(
        ErasedNumber.organization_id == org_id, ErasedNumber.number_hash == digest)).first()
    if exists is None:
        session.add(ErasedNumber(organization_id=org_id, number_hash=digest, erased_at=now))
    result.numbers_erased += 1
    session.flush()


def delete_records_of_device_calls(session, org_id: int, device_id: int, now: datetime) -> ErasureResult:
    """What exists only because of one phone's calls, for a consent
    withdrawal: the leads made from its calls that are still waiting for
    review and hold no other phone's call (with their notes, tasks and index
    rows), and the call-back tasks its calls opened."""
    device_calls = select(Call.id).where(Call.organization_id == org_id, Call.device_id == device_id)
    others = select(Call.id).where(Call.organization_id == org_id, Call.record_type == "lead",
                                   Call.record_id == Lead.id, Call.device_id != device_id)
    leads = set(session.execute(select(Lead.id).where(
        Lead.organization_id == org_id, Lead.status == "pending_review",
        Lead.created_from_call_id.in_(device_calls), ~others.exists())).scalars())
    result = ErasureResult()
    _delete_records(session, org_id, {("lead", lead_id) for lead_id in leads}, set(), now, result)
    result.deleted["tasks"] += _rows_changed(session, delete(Task).where(
        Task.organization_id == org_id, Task.call_id.in_(device_calls)))
    return result.finish()


def _delete_records(session, org_id: int, refs: set[tuple[str, int]], erased: set[str], now: datetime,
                    result: ErasureResult) -> None:
    """Delete contacts and leads with their notes, tasks, index rows and
    linked calls, and the leads merged into them (the same person)."""
    refs = _with_merged(session, org_id, refs)
    for record_type, model in RECORD_MODELS.items():
        ids = sorted(rid for rtype, rid in refs if rtype == record_type)
        for chunk in _chunks(ids):
            # Their other numbers stay in the organisation: the phones'
            # directories are told to drop these cards. The erased ones are not logged.
            result.deleted["record_phones"] += len(delete_record_phones(
                session, org_id, RecordPhone.record_type == record_type, RecordPhone.record_id.in_(chunk),
                now=now, unannounced=erased))
            for activity in (Note, Task, Call):
                result.deleted[activity.__tablename__] += _rows_changed(session, delete(activity).where(
                    activity.organization_id == org_id, activity.record_type == record_type,
                    activity.record_id.in_(chunk)))
            result.deleted[model.__tablename__] += _rows_changed(session, delete(model).where(
                model.organization_id == org_id, model.id.in_(chunk)))


def _with_merged(session, org_id: int, refs) -> set[tuple[str, int]]:
    """`refs` and the leads merged into any of them, and into those, ... (the same person)."""
    refs = set(refs)
    frontier = set(refs)
    while frontier:
        merged = set()
        for record_type in RECORD_MODELS:
            ids = [rid for rtype, rid in frontier if rtype == record_type]
            for chunk in _chunks(ids):
                merged |= {("lead", lead_id) for lead_id in session.execute(select(Lead.id).where(
                    Lead.organization_id == org_id, Lead.merged_into_type == record_type,
                    Lead.merged_into_id.in_(chunk))).scalars()}
        frontier = merged - refs
        refs |= frontier
    return refs


def _national_digits(e164: str) -> str:
    return phonenumbers.national_significant_number(phonenumbers.parse(e164, None))


def _unparsed_call_ids(session, org_id: int, e164: str) -> list[int]:
    """Calls whose number could not be read but whose raw digits are this number's."""
    national = _national_digits(e164)
    rows = session.execute(select(Call.id, Call.raw_number).where(
        Call.organization_id == org_id, Call.e164.is_(None), Call.raw_number.is_not(None),
        Call.raw_number.like(f"%{national[-1]}%"))).all()
    return [cid for cid, raw in rows if re.sub(r"\D", "", raw).endswith(national)]


def _delete_unparsed_calls(session, org_id: int, e164: str) -> int:
    doomed = _unparsed_call_ids(session, org_id, e164)
    return sum(_rows_changed(session, delete(Call).where(Call.id.in_(chunk))) for chunk in _chunks(doomed))


def without_number(text: str, e164: str, region: str | None) -> str:
    """`text` with every way of writing `e164` in it replaced by a marker."""
    spans = []
    for match in phonenumbers.PhoneNumberMatcher(text, region or "ZZ", leniency=phonenumbers.Leniency.POSSIBLE):
        if phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164) == e164:
            spans.append((match.start, match.end))
    for start, end in reversed(spans):
        text = text[:start] + REDACTED + text[end:]
    for literal in (e164, e164[1:], _national_digits(e164)):
        text = text.replace(literal, REDACTED)
    return text


# Free text that may quote a number, per table.
_TEXTS = ((Note, "notes", ("text",)), (Contact, "contacts", ("name", "company", "email", "last_note")),
          (Lead, "leads", ("name", "company", "email", "last_note")))


def _redact_texts(session, org: Organization, e164: str, result: ErasureResult) -> None:
    """Blank the number out of the free text of what is left: notes, and
    every text field of the other records (a name like "Kiran 98765 43210",
    an e-mail address made of the number, the last note caller ID shows).
    Counted per row changed."""
    last_digits = _national_digits(e164)[-2:]
    for model, label, names in _TEXTS:
        columns = [getattr(model, name) for name in names]
        rows = session.execute(select(model.id, *columns).where(
            model.organization_id == org.id, or_(*(column.like(f"%{last_digits}%") for column in columns)))
            .execution_options(all_organizations=True)).all()
        for row_id, *values in rows:
            changes = {}
            for name, value in zip(names, values):
                cleaned = without_number(value, e164, org.region) if value else value
                if cleaned != value:
                    changes[name] = cleaned
            if changes:
                # A name or company blanked here changes a caller card without
                # logging it: `forget_number` already made every phone rebuild.
                session.execute(update(model).where(model.id == row_id).values(changes)
                                .execution_options(synchronize_session=False))
                result.redacted[label] += 1
