"""Keeping the phone index (`record_phones`) in step with records. The
index rows are written by `mobile_sync.store.directory_log`, which logs the
numbers whose caller cards changed for the phones' directories."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mobile_sync.errors import invalid
from mobile_sync.phones import Number, normalize_number, region_for
from mobile_sync.store.directory_log import add_record_phones, delete_record_phones
from mobile_sync.store.models import RecordPhone


def parse_phones(raw_numbers: list[str], region: str | None, field: str = "phones") -> list[Number]:
    """Normalise numbers a person typed; 422 naming each one that is unusable."""
    parsed, problems = [], {}
    for index, raw in enumerate(raw_numbers):
        number = normalize_number(raw, region_for(region))
        if not number.matchable:
            problems[str(index)] = [f"Not a usable phone number ({number.status})."]
        else:
            parsed.append(number)
    if problems:
        raise invalid({field: problems}, "Some phone numbers are not usable.")
    return parsed


def set_record_phones(session, *, organization_id: int, record_type: str, record_id: int, numbers: list[Number],
                      now: datetime, raw: list[str] | None = None) -> list[str]:
    """Make the record's indexed numbers exactly `numbers`; return their E.164 forms."""
    wanted = {}
    for position, number in enumerate(numbers):
        if number.e164 and number.e164 not in wanted:
            wanted[number.e164] = (number, raw[position] if raw else None)
    existing = set(session.execute(
        select(RecordPhone.e164).where(RecordPhone.organization_id == organization_id,
                                       RecordPhone.record_type == record_type, RecordPhone.record_id == record_id)
    ).scalars())
    removed = existing - set(wanted)
    if removed:
        delete_record_phones(session, organization_id, RecordPhone.record_type == record_type,
                             RecordPhone.record_id == record_id, RecordPhone.e164.in_(removed), now=now)
    add_record_phones(session, organization_id, [
        {"record_type": record_type, "record_id": record_id, "e164": e164, "suffix": number.suffix,
         "raw": (text or e164)[:64], "extension": number.extension}
        for e164, (number, text) in wanted.items() if e164 not in existing], now)
    return list(wanted)


def record_numbers(session, organization_id: int, record_type: str, record_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {rid: [] for rid in record_ids}
    if not record_ids:
        return out
    for rid, e164 in session.execute(
        select(RecordPhone.record_id, RecordPhone.e164)
        .where(RecordPhone.organization_id == organization_id, RecordPhone.record_type == record_type,
               RecordPhone.record_id.in_(record_ids)).order_by(RecordPhone.id)
    ).all():
        out[rid].append(e164)
    return out


def remove_record_phones(session, *, organization_id: int, record_type: str, record_id: int, now: datetime) -> None:
    set_record_phones(session, organization_id=organization_id, record_type=record_type, record_id=record_id,
                      numbers=[], now=now)
