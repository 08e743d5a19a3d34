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

from sqlalchemy import select, text, update

from mobile_sync.bulk_sql import among, json_rows
from server.models import Call, Contact, Lead, RecordPhone
from server.models.base import utcnow
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
        .where(RecordPhone.organization_id == organization_id, among(session, RecordPhone.e164, e164s),
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


def _record_updates(group: list[CallFacts]) -> tuple[datetime | None, CallFacts, datetime]:
    """(latest connected call's start, the newest call, the earliest start) of one record's calls."""
    connected = [c.started_at for c in group if c.call_type in CONNECTED_TYPES and c.duration_s > 0]
    newest = max(group, key=lambda c: c.started_at)
    return (max(connected) if connected else None), newest, min(c.started_at for c in group)


# One statement per record type for the whole batch. Increments happen in the
# database (calls_count = calls_count + n), so two workers attaching calls to
# the same lead at once both count; the WHERE clause skips records the batch
# does not change, as the ORM would.
_ATTACH_SQL = """
UPDATE {table} AS r SET
  last_spoken_at = GREATEST(r.last_spoken_at, v.spoken),
  last_call_at = CASE WHEN r.last_call_at IS NULL OR v.newest >= r.last_call_at THEN v.newest ELSE r.last_call_at END,
  last_call_type = CASE WHEN r.last_call_at IS NULL OR v.newest >= r.last_call_at THEN v.newest_type
                        ELSE r.last_call_type END,
  {lead_columns}updated_at = :now
FROM json_to_recordset(CAST(:rows AS json))
     AS v(id integer, spoken timestamptz, newest timestamptz, newest_type smallint, n integer, first timestamptz)
WHERE r.id = v.id AND ({changed})
"""
_CONTACT_CHANGED = ("(v.spoken IS NOT NULL AND (r.last_spoken_at IS NULL OR v.spoken > r.last_spoken_at)) "
                    "OR r.last_call_at IS NULL OR v.newest > r.last_call_at "
                    "OR (v.newest = r.last_call_at AND r.last_call_type IS DISTINCT FROM v.newest_type)")
_ATTACH = {
    "contact": text(_ATTACH_SQL.format(table=Contact.__tablename__, lead_columns="", changed=_CONTACT_CHANGED)),
    "lead": text(_ATTACH_SQL.format(
        table=Lead.__tablename__, changed="TRUE",
        lead_columns="calls_count = COALESCE(r.calls_count, 0) + v.n, first_call_at = LEAST(r.first_call_at, v.first),\n  ")),
}


def attach_calls_to_records(session, calls: list[CallFacts]) -> None:
    """Update each matched record's last-spoken time, last call type and, for
    leads, the call counters. Safe to run for calls processed in any order."""
    by_record: dict[tuple[str, int], list[CallFacts]] = defaultdict(list)
    for call in calls:
        if call.record_type in PRECEDENCE:
            by_record[(call.record_type, call.record_id)].append(call)
    if not by_record:
        return
    if session.get_bind().dialect.name == "postgresql":
        now = utcnow()
        for record_type in PRECEDENCE:
            rows = []
            for (rtype, record_id), group in by_record.items():
                if rtype == record_type:
                    spoken, newest, first = _record_updates(group)
                    rows.append({"id": record_id, "spoken": spoken, "newest": newest.started_at,
                                 "newest_type": newest.call_type, "n": len(group), "first": first})
            if rows:
                session.execute(_ATTACH[record_type], {"rows": json_rows(rows), "now": now})
        return
    models = {"contact": Contact, "lead": Lead}
    for record_type, model in models.items():  # load every record of the batch in one query per type
        ids = [rid for (rtype, rid) in by_record if rtype == record_type]
        if ids:
            session.execute(select(model).where(model.id.in_(ids))).scalars().all()
    for (record_type, record_id), group in by_record.items():
        model = models[record_type]
        record = session.get(model, record_id)
        if record is None:
            continue
        spoken, newest, first = _record_updates(group)
        if spoken is not None and (record.last_spoken_at is None or spoken > record.last_spoken_at):
            record.last_spoken_at = spoken
        if record.last_call_at is None or newest.started_at >= record.last_call_at:
            record.last_call_at = newest.started_at
            record.last_call_type = newest.call_type
        if model is Lead:
            record.calls_count = (record.calls_count or 0) + len(group)
            record.first_call_at = min(filter(None, [record.first_call_at, first]))


def relink_calls(session, organization_id: int, from_type: str, from_id: int, to_type: str, to_id: int) -> int:
    """Point every call of one record at another (used by merges)."""
    return session.execute(
        update(Call).where(Call.organization_id == organization_id, Call.record_type == from_type,
                           Call.record_id == from_id).values(record_type=to_type, record_id=to_id)
    ).rowcount
