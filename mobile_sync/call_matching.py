"""Matching stored calls to CRM records and keeping "last spoken" current.

Look-up by exact E.164 in the phone index; a number held by exactly one
record matches it, with contacts taking precedence over leads. A number
shared by several records of the same kind (a switchboard) links to none of
them: the call is marked `shared_number` rather than given to a random person.
Both run as statements over the calls of a processing run's uploads (see
`mark_known_calls`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, bindparam, select, text, type_coerce, update

from mobile_sync.store.bulk_sql import is_postgresql
from mobile_sync.call_types import CONNECTED
from mobile_sync.store.models import Call, Contact, Lead
from mobile_sync.store.models.base import UTCDateTime, utcnow


CALLS = Call.__table__


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
        c = CALLS.c
        return (c.id, c.user_id, c.device_id, c.e164, c.number_status, c.call_type, c.duration_s, c.started_at,
                c.cached_name, c.via_e164)


PRECEDENCE = ("contact", "lead")

# Matching is set-wise, in the database, for every call of a run's uploads at once:
# a number held by exactly one record of the best kind (contacts before leads)
# links the call to it; held by several records of that kind (a switchboard)
# the call is `shared_number` and linked to none of them.
_MARK_NOT_MATCHABLE = text("""
UPDATE calls SET outcome = 'not_matchable:' || number_status, processed_at = :now
WHERE upload_id IN :uploads AND processed_at IS NULL AND e164 IS NULL
""").bindparams(bindparam("now", type_=UTCDateTime), bindparam("uploads", expanding=True))
# Per call, by index probes into the phone index: scalar subqueries, which
# PostgreSQL runs per row on (organization_id, e164). As joins (a CTE, or an
# EXISTS it turns into a semi-join), statistics that lag a growing table made
# it compare every call with every indexed number: 0.4-0.5 s a batch.
# 'contact' < 'lead', so min(record_type) is the kind that takes precedence.
_HELD = ("FROM record_phones AS {a} WHERE {a}.organization_id = :org AND {a}.e164 = calls.e164 "
         "AND {a}.record_type IN ('contact', 'lead')")
_MARK_MATCHED = text(f"""
UPDATE calls SET (outcome, record_type, record_id, processed_at) = (
  SELECT CASE WHEN count(DISTINCT rp.record_id) > 1 THEN 'shared_number' ELSE 'matched_' || min(rp.record_type) END,
         CASE WHEN count(DISTINCT rp.record_id) = 1 THEN min(rp.record_type) END,
         CASE WHEN count(DISTINCT rp.record_id) = 1 THEN min(rp.record_id) END,
         :now
  {_HELD.format(a="rp")} AND rp.record_type = (SELECT min(best.record_type) {_HELD.format(a="best")}))
WHERE calls.upload_id IN :uploads AND calls.processed_at IS NULL AND calls.e164 IS NOT NULL
  AND (SELECT min(held.record_type) {_HELD.format(a="held")}) IS NOT NULL
""").bindparams(bindparam("now", type_=UTCDateTime), bindparam("uploads", expanding=True))


def mark_known_calls(session, organization_id: int, upload_ids: list[int], now: datetime) -> int:
    """Set the outcome of every call of the uploads whose number is not
    matchable or is in the phone index; return how many. The calls left
    (processed_at still NULL) are the unmatched ones, for the lead rules."""
    params = {"uploads": list(upload_ids), "org": organization_id, "now": now}
    return (session.execute(_MARK_NOT_MATCHABLE, params).rowcount
            + session.execute(_MARK_MATCHED, params).rowcount)


# CallFacts' columns as read: on PostgreSQL, the start time without UTCDateTime.
_COLUMNS_AS_READ = {
    False: CallFacts.columns(),
    True: tuple(type_coerce(column, DateTime(timezone=True)).label("started_at") if column is CALLS.c.started_at
                else column for column in CallFacts.columns()),
}


def load_calls(session, *conditions) -> list[CallFacts]:
    """The calls matching `conditions` (on `CALLS.c`), in call order, as
    CallFacts. Core, not the ORM: the ORM's result set-up was a fifth of the
    cost of reading a batch. On PostgreSQL the start times come as the driver
    reads them (aware, in UTC: the service's sessions are): `UTCDateTime`'s
    conversion of each, a call at a time, was a third of processing."""
    c = CALLS.c
    columns = _COLUMNS_AS_READ[is_postgresql(session)]
    rows = session.execute(select(*columns, c.outcome, c.record_type, c.record_id)
                           .where(*conditions).order_by(c.started_at, c.id)).all()
    return [CallFacts(*row) for row in rows]


def _record_updates(group: list[CallFacts]) -> tuple[datetime | None, CallFacts, datetime]:
    """(latest connected call's start, the newest call, the earliest start) of one record's calls."""
    connected = [c.started_at for c in group if c.call_type in CONNECTED and c.duration_s > 0]
    newest = max(group, key=lambda c: c.started_at)
    return (max(connected) if connected else None), newest, min(c.started_at for c in group)


# One statement per record type for a run's uploads, computed from their
# calls by PostgreSQL. Increments happen in the database (calls_count =
# calls_count + n), so two workers attaching calls to the same lead at once
# both count; the WHERE clause skips records the calls do not change, as
# the ORM would. The newest call is the latest start, the first of equals.
_ATTACH_SQL = """
UPDATE {table} AS r SET
  last_spoken_at = GREATEST(r.last_spoken_at, v.spoken),
  last_call_at = CASE WHEN r.last_call_at IS NULL OR v.newest >= r.last_call_at THEN v.newest ELSE r.last_call_at END,
  last_call_type = CASE WHEN r.last_call_at IS NULL OR v.newest >= r.last_call_at THEN v.newest_type
                        ELSE r.last_call_type END,
  {lead_columns}updated_at = :now
FROM (SELECT record_id AS id,
             max(started_at) FILTER (WHERE call_type IN {connected} AND duration_s > 0) AS spoken,
             max(started_at) AS newest, (array_agg(call_type ORDER BY started_at DESC, id))[1] AS newest_type,
             count(*) AS n, min(started_at) AS first
      FROM calls WHERE upload_id IN :uploads AND record_type = '{record_type}' GROUP BY record_id) AS v
WHERE r.id = v.id AND ({changed})
"""
_CONTACT_CHANGED = ("(v.spoken IS NOT NULL AND (r.last_spoken_at IS NULL OR v.spoken > r.last_spoken_at)) "
                    "OR r.last_call_at IS NULL OR v.newest > r.last_call_at "
                    "OR (v.newest = r.last_call_at AND r.last_call_type IS DISTINCT FROM v.newest_type)")


def _attach_statement(model, changed: str, lead_columns: str = ""):
    return text(_ATTACH_SQL.format(table=model.__tablename__, lead_columns=lead_columns, changed=changed,
                                   record_type=model.__tablename__[:-1], connected=tuple(sorted(map(int, CONNECTED))))
                ).bindparams(bindparam("uploads", expanding=True))


_ATTACH = {
    "contact": _attach_statement(Contact, _CONTACT_CHANGED),
    "lead": _attach_statement(Lead, "TRUE", lead_columns=(
        "calls_count = COALESCE(r.calls_count, 0) + v.n, first_call_at = LEAST(r.first_call_at, v.first),\n  ")),
}


def attach_upload_calls(session, upload_ids: list[int]) -> None:
    """Update each record the uploads' calls are linked to: last-spoken time,
    last call and type, and for leads the call counters. Safe in any order."""
    if is_postgresql(session):
        now = utcnow()
        for record_type in PRECEDENCE:
            session.execute(_ATTACH[record_type], {"uploads": list(upload_ids), "now": now})
        return
    attach_calls_to_records(session, load_calls(session, CALLS.c.upload_id.in_(upload_ids),
                                                 CALLS.c.record_type.in_(PRECEDENCE)))


def attach_calls_to_records(session, calls: list[CallFacts]) -> None:
    """The same for calls in memory (SQLite, in process: no round trips to save)."""
    by_record: dict[tuple[str, int], list[CallFacts]] = defaultdict(list)
    for call in calls:
        if call.record_type in PRECEDENCE:
            by_record[(call.record_type, call.record_id)].append(call)
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


def recount_records(session, organization_id: int, refs: set[tuple[str, int]]) -> None:
    """The activity of these records (last spoken, last call, and a lead's
    counters) worked out again from the calls they still have: after calls
    were deleted (a consent withdrawal). The same rule as attaching, applied
    to the whole of each record's calls."""
    models = {"contact": Contact, "lead": Lead}
    for record_type, model in models.items():
        ids = sorted(rid for rtype, rid in refs if rtype == record_type)
        if not ids:
            continue
        cleared = {"last_spoken_at": None, "last_call_at": None, "last_call_type": None}
        if model is Lead:
            cleared.update(calls_count=0, first_call_at=None)
        session.execute(update(model).where(model.organization_id == organization_id, model.id.in_(ids))
                        .values(cleared).execution_options(synchronize_session=False))
        # The identity map takes the cleared rows, which the rule then updates.
        session.execute(select(model).where(model.id.in_(ids)).execution_options(populate_existing=True)).all()
        attach_calls_to_records(session, load_calls(
            session, CALLS.c.organization_id == organization_id, CALLS.c.record_type == record_type,
            CALLS.c.record_id.in_(ids)))


def relink_calls(session, organization_id: int, from_type: str, from_id: int, to_type: str, to_id: int) -> int:
    """Point every call of one record at another (used by merges)."""
    return session.execute(
        update(Call).where(Call.organization_id == organization_id, Call.record_type == from_type,
                           Call.record_id == from_id).values(record_type=to_type, record_id=to_id)
    ).rowcount
