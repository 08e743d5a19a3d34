"""CRM push items as stored: written by the hooks (a processed upload's
calls, an approved lead), claimed with a lease before anything is sent,
swept when due, listed for admins; and what one item sends, read when it is
sent. Each function flushes, never commits."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from mobile_sync.call_types import LABELS
from mobile_sync.store.bulk_sql import among, insert_rows
from mobile_sync.store.consent_state import has_consent
from mobile_sync.store.erased_numbers import erased_numbers
from mobile_sync.store.models import Call, Contact, CrmConnection, CrmPersonLink, CrmPush, Lead, User

# session.info key: ids of the push items written in the session's transaction.
PENDING_PUSHES = "crm_pushes_written"
PUSHED_TYPES = ("incoming", "outgoing", "missed", "rejected")  # the call types a rule may choose
_UNIQUE = ("organization_id", "crm", "subject_type", "subject_id")  # one item per call or lead and CRM


@dataclass(frozen=True)
class CallToPush:
    call_id: int
    number_e164: str | None  # None: erased since (or never known)
    direction: str | None  # None: a type no CRM is sent
    started_at: datetime
    duration_s: int
    device_id: int
    rep_name: str | None
    contact_name: str | None
    # The CRM's person that the call's contact was pulled from, if it was: the
    # call is logged on it without a search (a number typed with spaces in the
    # CRM is not found by its E.164 form, and a second person would be made).
    person_id: str | None = None


@dataclass(frozen=True)
class LeadToPush:
    lead_id: int
    number_e164: str | None
    name: str | None
    status: str


def _write(session, connection: CrmConnection, subject_type: str, subject_ids: list[int], now: datetime) -> list[int]:
    """One pending item per subject not already owed to the connection's CRM: one INSERT that skips
    what the unique key already holds (`bulk_sql.insert_rows`: one JSON document on PostgreSQL)."""
    if not subject_ids:
        return []
    rows = [{"organization_id": connection.organization_id, "connection_id": connection.id, "crm": connection.crm,
             "subject_type": subject_type, "subject_id": subject_id, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for subject_id in dict.fromkeys(subject_ids)]
    ids = [row[0] for row in insert_rows(session, CrmPush.__table__, rows, skip_conflicts_on=_UNIQUE,
                                         returning=("id",))]
    session.info.setdefault(PENDING_PUSHES, []).extend(ids)
    return ids


def write_call_pushes(session, connections: list[CrmConnection], upload_ids: list[int], now: datetime) -> list[int]:
    """Push items for the uploads' calls that each connection's rules take
    (call type, shortest duration), from phones with call-log consent, with a number."""
    if not connections or not upload_ids:
        return []
    organization_id = connections[0].organization_id
    rows = session.execute(select(Call.id, Call.call_type, Call.duration_s, Call.device_id).where(
        Call.organization_id == organization_id, among(session, Call.upload_id, upload_ids),
        Call.e164.is_not(None)).order_by(Call.id)).all()
    consent: dict[int, bool] = {}
    written = []
    for connection in connections:
        wanted = set(connection.call_types or ())
        chosen = []
        for row in rows:
            if LABELS.get(row.call_type) not in wanted or row.duration_s < (connection.min_duration_s or 0):
                continue
            if row.device_id not in consent:
                consent[row.device_id] = has_consent(session, row.device_id, "call_log")
            if consent[row.device_id]:
                chosen.append(row.id)
        written += _write(session, connection, "call", chosen, now)
    return written


def write_lead_pushes(session, connections: list[CrmConnection], lead_id: int, now: datetime) -> list[int]:
    """A push item of an approved lead (of the connections' organisation) for each connection that pushes leads."""
    written = []
    wanted = [c for c in connections if c.push_leads]
    if not wanted or session.execute(select(Lead.id).where(
            Lead.organization_id == wanted[0].organization_id, Lead.id == lead_id)).first() is None:
        return []
    for connection in wanted:
        if connection.push_leads:
            written += _write(session, connection, "lead", [lead_id], now)
    return written


def take_written_pushes(session) -> list[int]:
    """The ids noted since the last call (after a commit: to queue; after a rollback: to forget)."""
    return session.info.pop(PENDING_PUSHES, None) or []


def note_written(session, ids: list[int]) -> None:
    session.info.setdefault(PENDING_PUSHES, []).extend(ids)


def claim_push(session, push_id: int, now: datetime, lease: timedelta) -> CrmPush | None:
    """Take the item if it is pending, due and held by no live sender, counting an attempt."""
    claimed = session.execute(
        update(CrmPush)
        .where(CrmPush.id == push_id, CrmPush.status == "pending",
               or_(CrmPush.next_attempt_at.is_(None), CrmPush.next_attempt_at <= now),
               or_(CrmPush.claimed_until.is_(None), CrmPush.claimed_until < now))
        .values(claimed_until=now + lease, attempts=CrmPush.attempts + 1)
        .returning(CrmPush.id).execution_options(synchronize_session=False, all_organizations=True)).scalars().all()
    if not claimed:
        return None
    return session.execute(select(CrmPush).where(CrmPush.id == push_id).execution_options(
        populate_existing=True, all_organizations=True)).scalar_one()


def due_pushes(session, now: datetime, limit: int = 1000) -> list[int]:
    """Every organisation's pending items that are due and unclaimed, of
    connections that are connected and not told to wait (the sweep)."""
    return session.execute(select(CrmPush.id).join(CrmConnection, CrmConnection.id == CrmPush.connection_id).where(
        CrmPush.status == "pending",
        or_(CrmPush.next_attempt_at.is_(None), CrmPush.next_attempt_at <= now),
        or_(CrmPush.claimed_until.is_(None), CrmPush.claimed_until < now),
        CrmConnection.status == "connected",
        or_(CrmConnection.paused_until.is_(None), CrmConnection.paused_until <= now))
        .order_by(CrmPush.id).limit(limit).execution_options(all_organizations=True)).scalars().all()


def resume_connection_pushes(session, connection: CrmConnection, now: datetime) -> list[int]:
    """A connection connected again: its pending items are due now (queued after the commit)."""
    ids = session.execute(select(CrmPush.id).where(
        CrmPush.organization_id == connection.organization_id, CrmPush.connection_id == connection.id,
        CrmPush.status == "pending").order_by(CrmPush.id)).scalars().all()
    if ids:
        session.execute(update(CrmPush).where(CrmPush.id.in_(ids)).values(next_attempt_at=now)
                        .execution_options(synchronize_session=False))
        note_written(session, list(ids))
    return list(ids)


def list_pushes(session, organization_id: int, connection_id: int, limit: int, page: int, status: str | None = None):
    query = select(CrmPush).where(CrmPush.organization_id == organization_id,
                                  CrmPush.connection_id == connection_id)
    if status:
        query = query.where(CrmPush.status == status)
    rows = session.execute(query.order_by(CrmPush.id.desc()).offset((page - 1) * limit).limit(limit + 1)) \
        .scalars().all()
    return rows[:limit], (page + 1 if len(rows) > limit else None)


def push_counts(session, organization_id: int, connection_id: int) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.execute(select(CrmPush.status, func.count()).where(
        CrmPush.organization_id == organization_id, CrmPush.connection_id == connection_id)
        .group_by(CrmPush.status)).all()
    return {status: count for status, count in rows}


def call_to_push(session, organization_id: int, call_id: int, hash_key: str,
                 connection_id: int | None = None) -> CallToPush | None:
    """What a call's item sends, read now: None if the call is gone. With the
    item's connection, the person its contact was pulled from."""
    row = session.execute(select(
        Call.id, Call.e164, Call.call_type, Call.started_at, Call.duration_s, Call.device_id, Call.record_type,
        Call.record_id, User.name.label("rep_name")).join(User, User.id == Call.user_id).where(
        and_(Call.organization_id == organization_id, Call.id == call_id))
        .execution_options(all_organizations=True)).one_or_none()
    if row is None:
        return None
    number = row.e164
    if number is not None and number in erased_numbers(session, organization_id, [number], hash_key):
        number = None
    contact_name = None
    model = {"contact": Contact, "lead": Lead}.get(row.record_type)
    if model is not None and row.record_id is not None:
        contact_name = session.execute(select(model.name).where(
            model.organization_id == organization_id, model.id == row.record_id)
            .execution_options(all_organizations=True)).scalar()
    person_id = None
    if row.record_type == "contact" and row.record_id is not None and connection_id is not None:
        person_id = session.execute(select(CrmPersonLink.person_id).where(
            CrmPersonLink.organization_id == organization_id, CrmPersonLink.connection_id == connection_id,
            CrmPersonLink.contact_id == row.record_id).order_by(CrmPersonLink.updated_at.desc()).limit(1)
            .execution_options(all_organizations=True)).scalar()
    label = LABELS.get(row.call_type)
    return CallToPush(call_id=row.id, number_e164=number, direction=label if label in PUSHED_TYPES else None,
                      started_at=row.started_at, duration_s=row.duration_s, device_id=row.device_id,
                      rep_name=row.rep_name, contact_name=contact_name, person_id=person_id)


def call_consented(session, device_id: int) -> bool:
    return has_consent(session, device_id, "call_log")


def lead_to_push(session, organization_id: int, lead_id: int, hash_key: str) -> LeadToPush | None:
    lead = session.execute(select(Lead).where(Lead.organization_id == organization_id, Lead.id == lead_id)
                           .execution_options(all_organizations=True)).scalar_one_or_none()
    if lead is None:
        return None
    number = lead.phone
    if number is not None and number in erased_numbers(session, organization_id, [number], hash_key):
        number = None
    return LeadToPush(lead_id=lead.id, number_e164=number, name=lead.name, status=lead.status)
