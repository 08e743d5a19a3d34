"""Storing a phone's contact list, minimised.

By default only a keyed hash of each number is kept, with the Android
contact id: enough to know "this number is in the rep's phone book" (so it
never becomes a lead) and nothing more. Names, companies and e-mails are kept
only when the organisation turns on `keep_phone_contacts`.

Idempotency: a contact is (device, `contact_id`); a row whose `last_updated`
is not newer than what is stored is a duplicate.
"""
from __future__ import annotations

from marshmallow import ValidationError
from sqlalchemy import delete, select, update

from mobile_sync.consent import on_revocation, require_consent
from mobile_sync.store.erased_numbers import erased_numbers
from mobile_sync.store.locks import lock_for_upload
from mobile_sync.ingest_calls import UploadResult, check_batch_size
from mobile_sync.store.bulk_sql import upsert
from mobile_sync.store.uploads import advance_cursor
from mobile_sync.number_hash import PHONEBOOK, number_hash
from mobile_sync.phones import normalize_number, region_for
from schemas.sync import ContactRowSchema, DeletedContactSchema
from mobile_sync.store.models import PhonebookContact, PhonebookNumber, SyncCursor

_contact_schema = ContactRowSchema()
_deleted_schema = DeletedContactSchema()


def _message(err: ValidationError) -> str:
    messages = err.messages if isinstance(err.messages, dict) else {"row": err.messages}
    return "; ".join(f"{key}: {value}" for key, value in sorted(messages.items(), key=lambda kv: str(kv[0])))


def _numbers(row: dict, region: str | None) -> set[str]:
    found = set()
    for phone in row["phones"]:
        number = normalize_number(phone["normalized_number"] or phone["number"], region)
        if not number.matchable and phone["normalized_number"]:
            number = normalize_number(phone["number"], region)
        if number.matchable:
            found.add(number.e164)
    return found


def _store_numbers(session, *, contact_id: int, user_id: int, org_id: int, e164s: set[str], keep: bool,
                   hash_key: str) -> None:
    rows = [{"organization_id": org_id, "contact_id": contact_id, "user_id": user_id,
             "number_hash": number_hash(hash_key, PHONEBOOK, org_id, e164), "e164": e164 if keep else None}
            for e164 in sorted(e164s)]
    if rows:
        session.execute(upsert(session, PhonebookNumber).on_conflict_do_nothing(
            index_elements=["contact_id", "number_hash"]), rows)


def ingest_contacts(session, *, device, user, org, contacts: list, deleted: list, now, hash_key: str) -> UploadResult:
    """Validate and store a contact-list batch; return what happened."""
    check_batch_size(contacts, "contacts")
    check_batch_size(deleted, "deletions")
    lock_for_upload(session, org.id, device.id)
    require_consent(session, device.id, "contacts")
    result = UploadResult()
    keep = bool((org.settings or {}).get("keep_phone_contacts", False))
    region = region_for(user.region, org.region)
    latest: dict[int, dict] = {}
    for index, raw in enumerate(contacts):
        try:
            row = _contact_schema.load(raw if isinstance(raw, dict) else {"_": raw})
        except ValidationError as err:
            result.rejected.append({"index": index, "code": "invalid_row", "message": _message(err)})
            continue
        previous = latest.get(row["contact_id"])
        if previous is not None:
            result.duplicates += 1
            if previous["last_updated"] >= row["last_updated"]:
                continue
        latest[row["contact_id"]] = row
    stored = dict(session.execute(
        select(PhonebookContact.android_contact_id, PhonebookContact.last_updated_ms)
        .where(PhonebookContact.device_id == device.id, PhonebookContact.android_contact_id.in_(list(latest)))
    ).all()) if latest else {}
    # The numbers of every contact newer than what is stored, and which of them
    # were erased: one question for the whole batch. Erased people stay erased.
    numbers = {contact_id: _numbers(row, region) for contact_id, row in latest.items()
               if contact_id not in stored or stored[contact_id] < row["last_updated"]}
    erased = erased_numbers(session, org.id, set().union(*numbers.values()), hash_key)
    for contact_id, row in latest.items():
        details = {"display_name": row["display_name"] if keep else None,
                   "company": row["organization"] if keep else None,
                   "emails": row["emails"] if keep else None}
        if contact_id in stored:
            if stored[contact_id] >= row["last_updated"]:
                result.duplicates += 1
                continue
            changed = session.execute(
                update(PhonebookContact)
                .where(PhonebookContact.device_id == device.id, PhonebookContact.android_contact_id == contact_id,
                       PhonebookContact.last_updated_ms < row["last_updated"])
                .values(last_updated_ms=row["last_updated"], **details)
                .returning(PhonebookContact.id)
            ).scalar_one_or_none()
            if changed is None:
                result.duplicates += 1
                continue
            session.execute(delete(PhonebookNumber).where(PhonebookNumber.contact_id == changed))
            pk = changed
        else:
            pk = session.execute(
                upsert(session, PhonebookContact).values(
                    organization_id=org.id, device_id=device.id, user_id=user.id, android_contact_id=contact_id,
                    last_updated_ms=row["last_updated"], **details)
                .on_conflict_do_nothing(index_elements=["device_id", "android_contact_id"])
                .returning(PhonebookContact.id)
            ).scalar_one_or_none()
            if pk is None:  # a concurrent copy of this batch stored it first
                result.duplicates += 1
                continue
        _store_numbers(session, contact_id=pk, user_id=user.id, org_id=org.id, e164s=numbers[contact_id] - erased,
                       keep=keep, hash_key=hash_key)
        result.accepted += 1
    for index, raw in enumerate(deleted):
        try:
            gone = _deleted_schema.load(raw if isinstance(raw, dict) else {"_": raw})
        except ValidationError as err:
            result.rejected.append({"index": index, "code": "invalid_deletion", "message": _message(err)})
            continue
        condition = [PhonebookContact.device_id == device.id,
                     PhonebookContact.android_contact_id == gone["contact_id"]]
        if gone["deleted_at"] is not None:
            condition.append(PhonebookContact.last_updated_ms <= gone["deleted_at"])
        doomed = select(PhonebookContact.id).where(*condition)
        session.execute(delete(PhonebookNumber).where(PhonebookNumber.contact_id.in_(doomed)))
        session.execute(delete(PhonebookContact).where(*condition))
    newest = max((row["last_updated"] for row in latest.values()), default=None)
    result.cursor = advance_cursor(session, device.organization_id, device_id=device.id, kind="contacts", value=newest, now=now)
    session.flush()
    return result


@on_revocation("contacts")
def delete_device_phonebook(session, device_id: int, now) -> None:
    """Consent to the contact list withdrawn: delete what this phone uploaded."""
    ids = select(PhonebookContact.id).where(PhonebookContact.device_id == device_id)
    session.execute(delete(PhonebookNumber).where(PhonebookNumber.contact_id.in_(ids)))
    session.execute(delete(PhonebookContact).where(PhonebookContact.device_id == device_id))
    session.execute(delete(SyncCursor).where(SyncCursor.device_id == device_id, SyncCursor.kind == "contacts"))
