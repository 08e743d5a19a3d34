"""A record's call activity, one rule for every path that changes it: "last
spoken" (the latest connected call that lasted), the last call and its type,
and for a lead its call count and first call.

The rule is one UPDATE per record kind, computed by the database from a set
of calls and folded into what the record holds: processing applies it to the
calls of its uploads (`attach_upload_calls`); a consent withdrawal or a merge
works it out again from all the calls the records have left
(`recount_records`). Increments happen in the database (calls_count =
calls_count + n), so two runs attaching calls to the same lead both count.

A lead's UPDATE also sets the leads report's first response
(`leads.first_response_at`, the rule `lead_figures.first_response` taken
from the first call it sets): the lead is written once, not again by the
reports' processing hook.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, or_, select, update

from mobile_sync.call_types import CONNECTED, CallType
from mobile_sync.record_kinds import CALL_RECORDS
from mobile_sync.store.bulk_sql import among
from mobile_sync.store.lead_figures import first_response, refresh_first_responses
from mobile_sync.store.models import Call, Contact, Lead

CALLS = Call.__table__
MODELS = {"contact": Contact, "lead": Lead}
ACTIVITY = ("last_spoken_at", "last_call_at", "last_call_type")
LEAD_ACTIVITY = ("calls_count", "first_call_at", "first_response_at")
OUTGOING = int(CallType.OUTGOING)


def _activity_of(organization_id: int, record_type: str, *conditions):
    """Per record, from the calls selected: spoken (latest connected call
    that lasted), newest start and its type (the first of equal starts), the
    number of calls and the earliest start. A MATERIALIZED CTE (PostgreSQL
    and SQLite): computed once, even when the planner, without statistics
    yet on a table that just grew, joins it by a nested loop (as a subquery
    it was computed again for every record: 2.4 s for 715 leads)."""
    c = CALLS.c
    lead = record_type == "lead"
    ranked = select(
        c.record_id, c.started_at,
        c.call_type, (c.call_type.in_(sorted(map(int, CONNECTED))) & (c.duration_s > 0)).label("spoke"),
        func.row_number().over(partition_by=c.record_id, order_by=(c.started_at.desc(), c.id)).label("place"),
        *((c.e164, func.row_number().over(partition_by=c.record_id, order_by=(c.started_at, c.id)).label("early"))
          if lead else ()),
    ).where(c.organization_id == organization_id, c.record_type == record_type, *conditions).subquery("ranked")
    r = ranked.c
    return select(
        r.record_id.label("id"),
        func.max(case((r.spoke, r.started_at))).label("spoken"),
        func.max(r.started_at).label("newest"),
        func.max(case((r.place == 1, r.call_type))).label("newest_type"),
        func.count().label("n"),
        func.min(r.started_at).label("first"),
        # A lead's: the type and number of its earliest call (see `_first_response`).
        *((func.max(case((r.early == 1, r.call_type))).label("first_type"),
           func.max(case((r.early == 1, r.e164))).label("first_e164")) if lead else ()),
    ).group_by(r.record_id).cte("v").prefix_with("MATERIALIZED")


def _first_response(organization_id: int, v, first):
    """The leads report's first response of a lead whose calls are folded,
    set in the same write (`first`: the first call the fold sets). A lead
    whose first call is now one of the fold's calls, outgoing with its
    number, was answered by it (no call can answer it sooner): no probe of
    the calls; any other, the rule's probe (`lead_figures.first_response`)."""
    lead = Lead.__table__.c
    answered = and_(v.c.first == first, v.c.first_type == OUTGOING, v.c.first_e164 == lead.phone)
    return case((answered, first), else_=first_response(organization_id, since=first))


def _later(value, than):
    """`value` where it is later than `than` (or `than` is empty), else `than`."""
    return case((or_(than.is_(None), value > than), value), else_=than)


def _fold(session, organization_id: int, record_type: str, now: datetime, *conditions) -> set[int]:
    """Fold the activity of the selected calls into their records; returns the records written."""
    model = MODELS[record_type]
    table, v = model.__table__, _activity_of(organization_id, record_type, *conditions)
    r = table.c
    newer_call = or_(r.last_call_at.is_(None), v.c.newest >= r.last_call_at)
    values = {
        "last_spoken_at": _later(v.c.spoken, r.last_spoken_at),
        "last_call_at": case((newer_call, v.c.newest), else_=r.last_call_at),
        "last_call_type": case((newer_call, v.c.newest_type), else_=r.last_call_type),
        "updated_at": now,
    }
    # Records the calls do not change are left alone (their updated_at too);
    # a lead's counters change with every call.
    changed = or_(and_(v.c.spoken.is_not(None), or_(r.last_spoken_at.is_(None), v.c.spoken > r.last_spoken_at)),
                  r.last_call_at.is_(None), v.c.newest > r.last_call_at,
                  and_(v.c.newest == r.last_call_at, r.last_call_type.is_distinct_from(v.c.newest_type)))
    if model is Lead:
        first = case((or_(r.first_call_at.is_(None), v.c.first < r.first_call_at), v.c.first), else_=r.first_call_at)
        # The leads report's first response in the same write (the rule, from
        # the first call set here): a lead is written once a run, not again
        # by the report's hook (`run_responses`).
        values.update(calls_count=func.coalesce(r.calls_count, 0) + v.c.n, first_call_at=first,
                      first_response_at=_first_response(organization_id, v, first))
        changed = True
    touched = session.execute(update(table).where(r.organization_id == organization_id, r.id == v.c.id, changed)
                              .values(values).returning(r.id)).scalars().all()
    _forget_loaded(session, model, touched)
    return set(touched)


def _forget_loaded(session, model, ids) -> None:
    """Records of these ids already loaded in the session read their activity
    again on next access (the UPDATE went around the ORM)."""
    fields = ACTIVITY + (LEAD_ACTIVITY if model is Lead else ()) + ("updated_at",)
    for record_id in ids:
        loaded = session.identity_map.get(session.identity_key(model, record_id))
        if loaded is not None:
            session.expire(loaded, fields)


def attach_upload_calls(session, organization_id: int, upload_ids: list[int], now: datetime) -> None:
    """Update each record the uploads' calls are linked to. Safe in any order."""
    for record_type in CALL_RECORDS:
        _fold(session, organization_id, record_type, now, among(session, CALLS.c.upload_id, upload_ids))


def recount_records(session, organization_id: int, refs: set[tuple[str, int]], now: datetime) -> None:
    """The activity of these records worked out again from the calls they
    have: after calls were deleted (a consent withdrawal) or moved to them (a
    merge). The same rule, applied to the whole of each record's calls."""
    for record_type, model in MODELS.items():
        ids = sorted(record_id for kind, record_id in refs if kind == record_type)
        if not ids:
            continue
        cleared = dict.fromkeys(ACTIVITY)
        if model is Lead:
            cleared.update(calls_count=0, first_call_at=None)
        session.execute(update(model).where(model.organization_id == organization_id, model.id.in_(ids))
                        .values(cleared).execution_options(synchronize_session=False))
        _forget_loaded(session, model, ids)
        folded = _fold(session, organization_id, record_type, now, CALLS.c.record_id.in_(ids))
        # The leads report's first response: the fold set it for the leads with
        # calls left; those with none by the rule here (from their creation).
        if model is Lead and set(ids) - folded:
            refresh_first_responses(session, organization_id, lead_ids=sorted(set(ids) - folded))
