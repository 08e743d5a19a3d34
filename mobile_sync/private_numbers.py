"""A rep's private numbers: calls with them never reach a record.

A number is kept as a keyed hash (`mobile_sync.number_hash`, purpose
"private", per organisation) and a hint of its last two digits, never the
number. Marking one deletes that user's calls with it and what exists only
because of them (`forget_private_calls`); later calls with it are dropped at
upload (`mobile_sync.ingest_calls`); and the auto-lead and call-back rules
skip it, should a call reach processing all the same.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select

from mobile_sync.errors import ServiceError, not_found
from mobile_sync.number_hash import number_hash
from mobile_sync.phones import normalize_number, region_for
from mobile_sync.record_kinds import CALL_RECORDS
from mobile_sync.store.bulk_sql import among
from mobile_sync.store.directory_log import delete_record_phones
from mobile_sync.store.locks import lock_consent_change, lock_processing
from mobile_sync.store.models import Call, Device, Lead, Note, Organization, RecordPhone, Task, User
from mobile_sync.store.models.devices import PrivateNumber
from mobile_sync.store.models.records import LeadEvent
from mobile_sync.store.record_activity import recount_records

PRIVATE = "private"
MAX_PRIVATE_NUMBERS = 1000


def private_hash(hash_key: str, organization_id: int, e164: str) -> str:
    return number_hash(hash_key, PRIVATE, organization_id, e164)


def private_for_user(session, organization_id: int, user_id: int, e164s: Iterable[str | None],
                     hash_key: str) -> set[str]:
    """Those of `e164s` the user marked private (one look-up; none when the user has none)."""
    e164s = set(filter(None, e164s))
    if not e164s:
        return set()
    found = private_pairs(session, organization_id, {(user_id, e164) for e164 in e164s}, hash_key)
    return {e164 for _, e164 in found}


def private_pairs(session, organization_id: int, pairs: set[tuple[int, str]], hash_key: str) -> set[tuple[int, str]]:
    """Those (user id, E.164) pairs whose user marked the number private."""
    pairs = {(user_id, e164) for user_id, e164 in pairs if user_id is not None and e164}
    users = {user_id for user_id, _ in pairs}
    if not users:
        return set()
    owners = set(session.execute(select(PrivateNumber.user_id).distinct().where(
        PrivateNumber.organization_id == organization_id, among(session, PrivateNumber.user_id, users))).scalars())
    if not owners:
        return set()  # the usual case: nobody in the batch has marked a number
    by_hash = {private_hash(hash_key, organization_id, e164): e164 for user_id, e164 in pairs if user_id in owners}
    rows = session.execute(select(PrivateNumber.user_id, PrivateNumber.number_hash).where(
        PrivateNumber.organization_id == organization_id, among(session, PrivateNumber.user_id, owners),
        among(session, PrivateNumber.number_hash, list(by_hash)))).all()
    return {(user_id, by_hash[digest]) for user_id, digest in rows if (user_id, by_hash[digest]) in pairs}


def list_private_numbers(session, user: User, *, page: int = 1,
                         limit: int = MAX_PRIVATE_NUMBERS) -> tuple[list[PrivateNumber], int | None]:
    """The user's private numbers, newest first, `limit` a page; and the next page's number, or None."""
    rows = list(session.execute(select(PrivateNumber).where(
        PrivateNumber.organization_id == user.organization_id, PrivateNumber.user_id == user.id)
        .order_by(PrivateNumber.id.desc()).offset((page - 1) * limit).limit(limit + 1)).scalars())
    return rows[:limit], (page + 1 if len(rows) > limit else None)


def _hint(e164: str) -> str:
    return "…" + e164[-2:]


def mark_private(session, *, user: User, number: str, hash_key: str, now: datetime) -> tuple[PrivateNumber, dict]:
    """Mark `number` private for `user`; return it and the counts of what was
    deleted. Marking the same number again returns the first marking.

    422 `invalid_number` for a number that cannot be read; 422
    `too_many_private_numbers` past MAX_PRIVATE_NUMBERS."""
    org: Organization = user.organization
    e164 = normalize_number(number, region_for(user.region, org.region)).e164
    if e164 is None:
        raise ServiceError(422, "invalid_number", "This is not a phone number we can read.",
                           {"number": ["Not a phone number we can read."]})
    # The user's row locked: two markings at once cannot both pass the cap.
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    digest = private_hash(hash_key, org.id, e164)
    existing = session.execute(select(PrivateNumber).where(
        PrivateNumber.organization_id == org.id, PrivateNumber.user_id == user.id,
        PrivateNumber.number_hash == digest)).scalar_one_or_none()
    if existing is not None:
        return existing, forget_private_calls(session, org.id, user.id, e164, now)
    count = session.execute(select(func.count()).select_from(PrivateNumber).where(
        PrivateNumber.organization_id == org.id, PrivateNumber.user_id == user.id)).scalar_one()
    if count >= MAX_PRIVATE_NUMBERS:
        raise ServiceError(422, "too_many_private_numbers",
                           f"You have {MAX_PRIVATE_NUMBERS} private numbers, the most allowed. "
                           "Remove one you no longer need, then add this one.",
                           {"number": [f"At most {MAX_PRIVATE_NUMBERS} private numbers per user."]})
    marked = PrivateNumber(organization_id=org.id, user_id=user.id, number_hash=digest, hint=_hint(e164),
                           created_at=now)
    session.add(marked)
    session.flush()
    return marked, forget_private_calls(session, org.id, user.id, e164, now)


def unmark_private(session, *, user: User, private_id: int) -> None:
    """Forget one of the user's private numbers: later calls with it are kept
    again (what was deleted stays deleted). Another user's is a 404."""
    marked = session.get(PrivateNumber, private_id)
    if marked is None or marked.user_id != user.id or marked.organization_id != user.organization_id:
        raise not_found("private number")
    session.delete(marked)
    session.flush()


def forget_private_calls(session, organization_id: int, user_id: int, e164: str, now: datetime) -> dict:
    """Delete the user's calls with `e164` and what exists only because of them.

    The rule: a lead goes with them when it holds these calls (or was made
    from one) and nothing of anybody else: no other user's call, no other
    user's note, no other user's review action (approve, edit, assign...).
    Such a lead is deleted with its notes, tasks, history and index rows. A
    lead or contact that holds someone else's work stays (it is the
    organisation's), only losing these calls. Call-back tasks these calls
    opened are deleted. Runs after the user's uploads in flight (which read
    the private numbers before this marking) and the processing run in
    flight, so neither stores or attaches a call after they were looked for;
    every call is deleted by an ORM `delete(Call)`, which the report rollups follow.
    """
    for device_id in session.execute(select(Device.id).where(
            Device.organization_id == organization_id, Device.user_id == user_id).order_by(Device.id)).scalars():
        lock_consent_change(session, device_id)  # waits for the phone's upload in flight, if any
    lock_processing(session, organization_id)
    rows = session.execute(select(Call.id, Call.record_type, Call.record_id).where(
        Call.organization_id == organization_id, Call.user_id == user_id, Call.e164 == e164)).all()
    counts = {"calls": len(rows), "leads": 0, "tasks": 0, "notes": 0}
    if not rows:
        return counts
    call_ids = [row.id for row in rows]
    touched = {(row.record_type, row.record_id) for row in rows if row.record_type in CALL_RECORDS}
    candidates = {record_id for record_type, record_id in touched if record_type == "lead"}
    candidates |= set(session.execute(select(Lead.id).where(
        Lead.organization_id == organization_id, among(session, Lead.created_from_call_id, call_ids))).scalars())
    leads = _leads_only_theirs(session, organization_id, user_id, candidates, call_ids)
    if leads:
        ids = sorted(leads)
        delete_record_phones(session, organization_id, RecordPhone.record_type == "lead",
                             among(session, RecordPhone.record_id, ids), now=now)
        counts["notes"] = _count(session.execute(delete(Note).where(
            Note.organization_id == organization_id, Note.record_type == "lead", among(session, Note.record_id, ids))))
        counts["tasks"] += _count(session.execute(delete(Task).where(
            Task.organization_id == organization_id, Task.record_type == "lead", among(session, Task.record_id, ids))))
        session.execute(delete(LeadEvent).where(LeadEvent.organization_id == organization_id,
                                                among(session, LeadEvent.lead_id, ids)))
        # The leads' own calls are this user's calls with the number (checked above).
        session.execute(delete(Call).where(Call.organization_id == organization_id, Call.record_type == "lead",
                                           among(session, Call.record_id, ids)))
        counts["leads"] = _count(session.execute(delete(Lead).where(
            Lead.organization_id == organization_id, among(session, Lead.id, ids))))
    counts["tasks"] += _count(session.execute(delete(Task).where(
        Task.organization_id == organization_id, among(session, Task.call_id, call_ids))))
    session.execute(delete(Call).where(Call.organization_id == organization_id, among(session, Call.id, call_ids)))
    recount_records(session, organization_id, {ref for ref in touched if ref != ("lead", None)
                                                and not (ref[0] == "lead" and ref[1] in leads)}, now)
    session.flush()
    return counts


def _leads_only_theirs(session, organization_id: int, user_id: int, candidates: set[int],
                       call_ids: list[int]) -> set[int]:
    """Those of `candidates` with no other user's call, note or review action."""
    if not candidates:
        return set()
    ids = sorted(candidates)
    others = set(session.execute(select(Call.record_id).distinct().where(
        Call.organization_id == organization_id, Call.record_type == "lead", among(session, Call.record_id, ids),
        Call.user_id != user_id)).scalars())
    others |= set(session.execute(select(Note.record_id).distinct().where(
        Note.organization_id == organization_id, Note.record_type == "lead", among(session, Note.record_id, ids),
        Note.author_id.is_not(None), Note.author_id != user_id)).scalars())
    others |= set(session.execute(select(LeadEvent.lead_id).distinct().where(
        LeadEvent.organization_id == organization_id, among(session, LeadEvent.lead_id, ids),
        LeadEvent.actor_id.is_not(None), LeadEvent.actor_id != user_id)).scalars())
    # A lead merged into this one, or this one merged elsewhere, is someone's decision too.
    others |= set(session.execute(select(Lead.merged_into_id).where(
        Lead.organization_id == organization_id, Lead.merged_into_type == "lead",
        among(session, Lead.merged_into_id, ids))).scalars())
    others |= set(session.execute(select(Lead.id).where(
        Lead.organization_id == organization_id, among(session, Lead.id, ids),
        Lead.merged_into_id.is_not(None))).scalars())
    return candidates - others


def _count(result) -> int:
    return max(result.rowcount or 0, 0)
