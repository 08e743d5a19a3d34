"""Matching stored calls to CRM records and keeping "last spoken" current.

Look-up by exact E.164 in the phone index; a number held by exactly one
record matches it, with contacts taking precedence over leads. A number
shared by several records of the same kind (a switchboard) links to none of
them: the call is marked `shared_number` rather than given to a random person.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from server.models import Call, Contact, Lead, RecordPhone
from server.models.calls import CONNECTED_TYPES


@dataclass(slots=True)
class CallFacts:
    """What processing needs of one stored call (read with Core, not the ORM)."""

    id: int
    user_id: int
    device_id: int
    e164: str | None
    number_status: str
    call_type: int
    duration_s: int
    started_at: datetime
    cached_name: str | None
    via_e164: str | None
    outcome: str | None = None
    record_type: str | None = None
    record_id: int | None = None

    @classmethod
    def columns(cls):
        return (Call.id, Call.user_id, Call.device_id, Call.e164, Call.number_status, Call.call_type,
                Call.duration_s, Call.started_at, Call.cached_name, Call.via_e164)

PRECEDENCE = ("contact", "lead")


def records_by_number(session, organization_id: int, e164s: set[str]) -> dict[str, list[tuple[str, int]]]:
    """{e164: [(record_type, record_id), ...]} for contacts and leads, best first."""
    if not e164s:
        return {}
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    rows = session.execute(
        select(RecordPhone.e164, RecordPhone.record_type, RecordPhone.record_id)
        .where(RecordPhone.organization_id == organization_id, RecordPhone.e164.in_(list(e164s)),
               RecordPhone.record_type.in_(PRECEDENCE))
        .execution_options(all_organizations=True)
    ).all()
    for e164, record_type, record_id in rows:
        found[e164].append((record_type, record_id))
    for e164 in found:
        found[e164].sort(key=lambda r: (PRECEDENCE.index(r[0]), r[1]))
    return found


def pick_record(candidates: list[tuple[str, int]]) -> tuple[tuple[str, int] | None, str]:
    """The one record a number points to, and why."""
    if not candidates:
        return None, "unmatched"
    best_type = candidates[0][0]
    same_kind = [c for c in candidates if c[0] == best_type]
    if len(same_kind) > 1:
        return None, "shared_number"
    return same_kind[0], f"matched_{best_type}"


def match_calls(session, organization_id: int, calls: list[CallFacts]) -> list[CallFacts]:
    """Link each matchable call to its record; return the calls left unmatched."""
    index = records_by_number(session, organization_id, {c.e164 for c in calls if c.e164})
    unmatched = []
    for call in calls:
        if not call.e164:
            call.outcome = f"not_matchable:{call.number_status}"
            continue
        record, outcome = pick_record(index.get(call.e164, []))
        call.outcome = outcome
        if record is None:
            if outcome == "unmatched":
                unmatched.append(call)
            continue
        call.record_type, call.record_id = record
    return unmatched


def attach_calls_to_records(session, calls: list[CallFacts]) -> None:
    """Update each matched record's last-spoken time, last call type and, for
    leads, the call counters. Safe to run for calls processed in any order."""
    by_record: dict[tuple[str, int], list[CallFacts]] = defaultdict(list)
    for call in calls:
        if call.record_type in PRECEDENCE:
            by_record[(call.record_type, call.record_id)].append(call)
    for (record_type, record_id), group in by_record.items():
        model = Contact if record_type == "contact" else Lead
        record = session.get(model, record_id)
        if record is None:
            continue
        connected = [c for c in group if c.call_type in CONNECTED_TYPES and c.duration_s > 0]
        if connected:
            latest = max(connected, key=lambda c: c.started_at)
            if record.last_spoken_at is None or latest.started_at > record.last_spoken_at:
                record.last_spoken_at = latest.started_at
        newest = max(group, key=lambda c: c.started_at)
        if record.last_call_at is None or newest.started_at >= record.last_call_at:
            record.last_call_at = newest.started_at
            record.last_call_type = newest.call_type
        if model is Lead:
            record.calls_count = (record.calls_count or 0) + len(group)
            first = min(c.started_at for c in group)
            record.first_call_at = min(filter(None, [record.first_call_at, first]))


def relink_calls(session, organization_id: int, from_type: str, from_id: int, to_type: str, to_id: int) -> int:
    """Point every call of one record at another (used by merges)."""
    return session.execute(
        update(Call).where(Call.organization_id == organization_id, Call.record_type == from_type,
                           Call.record_id == from_id).values(record_type=to_type, record_id=to_id)
    ).rowcount
