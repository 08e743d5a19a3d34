"""Storing a phone's call-log upload, exactly once per call.

A call's identity is (device, Android `_id`, `date`). Rows are inserted with
ON CONFLICT DO NOTHING against that unique key, so a batch sent again, rows
repeated across batches, or ten copies racing each other store each call
once; the rest count as duplicates. The upload row written in the same
transaction is the processing outbox (see `mobile_sync.store.models.calls.SyncUpload`).

Rows arrive as `CallRow`s when the whole body was read at once
(`mobile_sync.call_rows.read_call_batch`), otherwise as sent, and are read
here one by one; from then on both are the same `CallRow`s.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select

from mobile_sync.call_rows import CallRow, read_call, tidy_call
from mobile_sync.consent import on_revocation, require_consent
from mobile_sync.errors import ServiceError
from mobile_sync.erasure import delete_records_of_device_calls
from mobile_sync.store.erased_numbers import erased_numbers
from mobile_sync.phones import normalize_number, region_for
from mobile_sync.plans import check_record_limit
from mobile_sync.private_numbers import private_for_user
from mobile_sync.record_kinds import CALL_RECORDS
from mobile_sync.store.calls import insert_new_calls
from mobile_sync.store.locks import lock_for_upload, lock_processing
from mobile_sync.store.record_activity import recount_records
from mobile_sync.store.uploads import advance_cursor, close_upload, open_upload
from schemas.sync import MAX_BATCH
from mobile_sync.store.models import Call, Device, Organization, SyncCursor, SyncUpload, User


@dataclass
class UploadResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)
    cursor: str | None = None
    ignored: int = 0  # dropped by the user's choices (untracked SIM, private number): never stored
    upload_id: int | None = None


def check_batch_size(rows: list, what: str) -> None:
    if len(rows) > MAX_BATCH:
        raise ServiceError(413, "batch_too_large",
                           f"A batch holds at most {MAX_BATCH} {what}; this one has {len(rows)}. "
                           "Nothing of it was stored: split it and send again.")


def _bounded(value: str | None, limit: int) -> str | None:
    """An extension longer than its column (phonenumbers accepts up to 20
    digits) is cut, not a database error; `raw_number` keeps what was sent."""
    return value[:limit] if value and len(value) > limit else value


def _read_rows(rows: list, user: User, org: Organization, result: UploadResult) -> tuple[list[CallRow], list[int]]:
    """Each usable row tidied, its numbers normalised, with its index in the
    batch; the others reported in `result.rejected`. One pass: this loop runs
    for every row uploaded."""
    fallback = region_for(user.region, org.region)
    regions: dict[str | None, str | None] = {}
    values, indexes = [], []
    for index, row in enumerate(rows):
        if type(row) is not CallRow:
            row, problem = read_call(row)
            if row is None:
                result.rejected.append({"index": index, "code": "invalid_row", "message": problem})
                continue
        tidy_call(row)
        country = row.countryiso
        region = regions.get(country)
        if region is None:
            region = regions[country] = region_for(country, fallback) or fallback
        number = normalize_number(row.raw_number, region, row.presentation)
        row.e164, row.number_status = number.e164, number.status
        row.extension = _bounded(number.extension, 16)
        via = row.via_number
        row.via_e164 = normalize_number(via, region).e164 if via else None
        values.append(row)
        indexes.append(index)
    return values, indexes


def _drop_ignored(session, device: Device, user: User, values: list[CallRow], indexes: list[int], hash_key: str,
                  result: UploadResult) -> tuple[list[CallRow], list[int]]:
    """Rows the user chose not to keep, dropped before anything is stored and
    counted as `ignored`: calls on a SIM (phone account) the device does not
    track, and calls with the user's private numbers."""
    tracked = set(device.tracked_accounts or ())
    private = private_for_user(session, user.organization_id, user.id, (v.e164 for v in values), hash_key)
    if not tracked and not private:
        return values, indexes
    kept, kept_indexes = [], []
    for index, value in zip(indexes, values):
        if (tracked and value.subscription_id not in tracked) or (value.e164 is not None and value.e164 in private):
            result.ignored += 1
        else:
            kept.append(value)
            kept_indexes.append(index)
    return kept, kept_indexes


def ingest_calls(session, *, device: Device, user: User, org: Organization, batch_id: str, rows: list,
                 now: datetime, hash_key: str) -> UploadResult:
    """Validate, normalise and store a call-log batch; return what happened.

    `rows` are `CallRow`s already read, or rows as sent. Rows that cannot be
    used are reported by index; the others are kept.
    """
    check_batch_size(rows, "calls")
    lock_for_upload(session, org.id, device.id)
    require_consent(session, device.id, "call_log")
    result = UploadResult()
    values, indexes = _read_rows(rows, user, org, result)
    read = values
    values, indexes = _drop_ignored(session, device, user, values, indexes, hash_key, result)
    # The cursor moves past ignored rows too: the phone need not send them again.
    newest_ignored = None
    if result.ignored:
        kept = {id(v) for v in values}
        newest_ignored = max((v.date_ms for v in read if id(v) not in kept), default=None)
    erased = erased_numbers(session, org.id, (v.e164 for v in values), hash_key)
    if erased:
        kept = []
        for index, value in zip(indexes, values):
            if value.e164 in erased:
                result.rejected.append({"index": index, "code": "erased_number",
                                        "message": "This number was erased at the person's request."})
            else:
                kept.append(value)
        values = kept
    # Same identity twice in one batch: keep the first.
    unique = values
    if len({(v.android_id, v.date_ms) for v in values}) < len(values):
        unique, seen = [], set()
        for value in values:
            key = (value.android_id, value.date_ms)
            if key in seen:
                result.duplicates += 1
                continue
            seen.add(key)
            unique.append(value)
    if unique:
        # Stored first, then checked against the plan's record limit: a batch
        # over it raises, and the request's rollback takes every row back.
        upload_id = open_upload(session, org.id, device_id=device.id, user_id=user.id, kind="calls",
                                batch_id=batch_id, now=now)
        result.accepted = insert_new_calls(session, org.id, unique, {
            "device_id": device.id, "user_id": user.id, "upload_id": upload_id, "created_at": now})
        check_record_limit(session, org, result.accepted, stored=True)
        close_upload(session, org.id, upload_id, result.accepted)
        result.upload_id = upload_id if result.accepted else None
        result.duplicates += len(unique) - result.accepted
    result.rejected.sort(key=lambda r: r["index"])
    newest = max((v.date_ms for v in values), default=None)
    if newest_ignored is not None:
        newest = max(newest or 0, newest_ignored)
    result.cursor = advance_cursor(session, org.id, device_id=device.id, kind="calls", value=newest, now=now)
    return result


@on_revocation("call_log")
def delete_device_calls(session, device_id: int, now: datetime) -> None:
    """Consent to the call log withdrawn: delete every call this phone
    uploaded, with the leads and tasks that exist only because of them (after
    the organisation's processing run in flight, if any)."""
    device = session.get(Device, device_id)
    lock_processing(session, device.organization_id)
    delete_records_of_device_calls(session, device.organization_id, device_id, now)
    touched = {tuple(row) for row in session.execute(
        select(Call.record_type, Call.record_id).distinct().where(
            Call.device_id == device_id, Call.record_type.in_(CALL_RECORDS)))}
    session.execute(delete(Call).where(Call.device_id == device_id))
    recount_records(session, device.organization_id, touched, now)
    session.execute(delete(SyncUpload).where(SyncUpload.device_id == device_id, SyncUpload.kind == "calls"))
    session.execute(delete(SyncCursor).where(SyncCursor.device_id == device_id, SyncCursor.kind == "calls"))
