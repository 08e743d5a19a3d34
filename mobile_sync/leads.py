"""Leads and their review: list, read, manual entry, approve, reject (which
suppresses the number), merge into another record, reassign, bulk actions.

Visibility: a rep sees and edits their own leads; managers and admins see
all, except through a phone's device token (`own_only`), which acts for the
phone's user as a rep would. Someone else's lead is "not found" to a rep,
like another organisation's.
"""
from __future__ import annotations

import inspect
from datetime import datetime
from functools import wraps

from sqlalchemy import delete, func, select, update

from mobile_sync.store.calls import relink_calls
from mobile_sync.store.record_activity import recount_records
from mobile_sync.contacts import get_contact
from mobile_sync.erasure_check import refuse_erased
from mobile_sync.errors import ServiceError, forbidden, invalid, not_found
from mobile_sync.lead_rules import SUPPRESS
from mobile_sync.number_hash import number_hash
from mobile_sync.phone_index import parse_phones, record_numbers, set_record_phones
from mobile_sync.phones import normalize_number
from mobile_sync.private_numbers import private_for_user
from mobile_sync.record_pages import record_page, record_rows
from mobile_sync.record_search import record_condition
from mobile_sync.roles import REP, is_reviewer
from mobile_sync.store.lead_figures import refresh_first_responses
from mobile_sync.store.locks import lock_leads, lock_processing
from mobile_sync.store.models import Contact, Lead, Note, Suppression, Task, User
from mobile_sync.store.models.records import LEAD_STATUSES, LeadEvent
from mobile_sync.webhooks.events import emit, emit_lead_review

PAGE_SIZE = 50
REJECT_REASONS = ("personal", "spam", "not_a_lead")
EDITABLE = ("name", "company", "email", "source")
# What a review action may change: what its row in the lead's history tells.
_REVIEWED = ("status", "reject_reason", "merged_into_type", "merged_into_id", "owner_id", *EDITABLE)
CANDIDATES = 20


def _sees_own_only(user: User, own_only: bool = False) -> bool:
    return own_only or user.role == REP


def _visible(query, user: User, own_only: bool = False):
    if _sees_own_only(user, own_only):
        query = query.where(Lead.owner_id == user.id)
    return query


def list_leads(session, *, user: User, status=None, owner_id=None, source=None, since=None, q=None, sort=None,
               page: int = 1, limit: int = PAGE_SIZE, own_only: bool = False, with_counts: bool = True):
    """Filtered and found by `q` (mobile_sync.record_search), newest first
    unless `sort` says otherwise, `limit` a page; returns (leads: rows of the
    lead's columns, next page or None, counts per status under the same filters but the status — None
    unless `with_counts`: an export reading page after page needs none)."""
    # The list's conditions, each `column = value` (a page read through prebuilt
    # statements, mobile_sync.record_pages), but `since`.
    equal = [("organization_id", user.organization_id)]
    if _sees_own_only(user, own_only):
        equal.append(("owner_id", user.id))
    if owner_id:
        equal.append(("owner_id", owner_id))
    if source:
        equal.append(("source", source))
    query = record_rows(Lead, tuple(equal))
    if since:
        query = query.where(Lead.created_at >= since)
    listed = query  # a page reads `q` branch by branch (mobile_sync.record_pages)
    if q:
        query = query.where(record_condition(session, Lead, "lead", user.organization_id, q,
                                             user.region or user.organization.region))
    counts = None
    if with_counts:
        counts = dict.fromkeys(LEAD_STATUSES, 0)
        counts.update(session.execute(
            query.with_only_columns(Lead.status, func.count()).group_by(Lead.status).order_by(None)).all())
    if status:
        listed = listed.where(Lead.status == status)
        equal.append(("status", status))
    rows = record_page(session, listed, Lead, "lead", user.organization_id, q=q,
                       region=user.region or user.organization.region, sort=sort,
                       offset=(page - 1) * limit, limit=limit + 1, equal=None if since else tuple(equal))
    return rows[:limit], (page + 1 if len(rows) > limit else None), counts


def get_lead(session, lead_id: int, user: User, own_only: bool = False) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None or lead.organization_id != user.organization_id:
        raise not_found("lead")
    if (own_only or user.role == REP) and lead.owner_id != user.id:
        raise not_found("lead")
    return lead


def leads_by_id(session, user: User, ids: list[int]) -> dict[int, Lead]:
    """The leads of these ids that the user may see (to name them in a bulk action's results)."""
    if not ids:
        return {}
    query = _visible(select(Lead).where(Lead.organization_id == user.organization_id, Lead.id.in_(ids)), user)
    return {lead.id: lead for lead in session.execute(query).scalars()}


def merge_candidates(session, lead: Lead, user: User, q: str, limit: int = CANDIDATES) -> list[dict]:
    """Contacts and leads that `q` (a name, company, e-mail prefix or number)
    finds and `lead` could be merged into, with each one's numbers: at most
    `limit` of each kind, by name."""
    _require_reviewer(user)
    org_id, region = lead.organization_id, user.region or user.organization.region
    found = []
    for model, record_type in ((Contact, "contact"), (Lead, "lead")):
        query = select(model).where(model.organization_id == org_id)
        if model is Lead:
            query = query.where(Lead.id != lead.id, Lead.status != "merged")
        rows = record_page(session, query, model, record_type, org_id, q=q, region=region, sort="name",
                           offset=0, limit=limit)
        numbers = record_numbers(session, org_id, record_type, [row.id for row in rows])
        found += [{"type": record_type, "record": row, "numbers": numbers[row.id]} for row in rows]
    return found


def _user_in_org(session, organization_id: int, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.organization_id != organization_id or user.disabled_at:
        raise invalid({"user_id": ["No such user in your organisation."]})
    return user


def create_manual_lead(session, *, user: User, fields: dict, now: datetime, hash_key: str) -> Lead:
    """A lead typed in by a user (no consent needed)."""
    region = user.region or user.organization.region
    number = parse_phones([fields["phone"]], region, field="phone")[0]
    refuse_erased(session, user.organization_id, [number], hash_key, field="phone")
    if private_for_user(session, user.organization_id, user.id, [number.e164], hash_key):
        raise invalid({"phone": ["This is one of your private numbers, which never become leads. Remove it from "
                                 "your private numbers first."]}, "A private number cannot be a lead.")
    existing = session.execute(
        select(Lead.id).where(Lead.organization_id == user.organization_id, Lead.phone == number.e164)).scalar()
    if existing:
        raise ServiceError(409, "lead_exists", "A lead with this number already exists.",
                           fields={"lead_id": existing})
    lead = Lead(organization_id=user.organization_id, name=fields["name"], phone=number.e164,
                company=fields.get("company"), email=fields.get("email"), source=fields.get("source") or "manual",
                status="pending_review", owner_id=user.id, created_at=now, updated_at=now, calls_count=0)
    session.add(lead)
    session.flush()
    set_record_phones(session, organization_id=lead.organization_id, record_type="lead", record_id=lead.id,
                      numbers=[number], now=now)
    # The leads report's first response, by its rule: a call with the number
    # processed already may answer it (a phone whose clock runs ahead).
    refresh_first_responses(session, lead.organization_id, lead_ids=[lead.id])
    session.expire(lead, ["first_response_at"])
    if fields.get("note"):
        add_note(session, user=user, record_type="lead", record_id=lead.id, text=fields["note"], now=now)
    emit(session, lead.organization_id, "lead.created", {"lead_id": lead.id}, now)
    return lead


def _require_reviewer(user: User) -> None:
    if not is_reviewer(user.role):
        raise forbidden("Only managers and admins review leads.")


def _lock_lead(session, lead: Lead, arguments: dict) -> None:
    lock_leads(session, Lead, [lead.id])


def _lock_for_merge(session, lead: Lead, arguments: dict) -> None:
    # After the processing run in flight (it attaches calls to these
    # records), then both leads' rows in id order: merges A->B and B->A at
    # once are served one after the other, and the second finds A merged.
    lock_processing(session, lead.organization_id)
    into = [arguments["into_id"]] if arguments["into_type"] == "lead" else []
    lock_leads(session, Lead, [lead.id, *into])


def review_action(action: str, *, lock=_lock_lead, reviewers_only: bool = True):
    """The one way into a lead's review: every decision and edit (bulk ones
    too) passes here. The role check; the lead's row lock, after which its
    state is read again (two reviewers at once are served one after the
    other, and each decides on the state the last one left); the decision;
    then, when it changed anything, one row of the lead's history."""
    def decorate(decide):
        signature = inspect.signature(decide)

        @wraps(decide)
        def run(*args, **kwargs):
            call = signature.bind(*args, **kwargs)
            call.apply_defaults()
            session, lead, user = call.arguments["session"], call.arguments["lead"], call.arguments["user"]
            if reviewers_only:
                _require_reviewer(user)
            lock(session, lead, call.arguments)
            before = {key: getattr(lead, key) for key in _REVIEWED}
            result = decide(*args, **kwargs)
            _record_event(session, lead, user, action, before, call.arguments["now"])
            return result
        return run
    return decorate


def _record_event(session, lead: Lead, user: User | None, action: str, before: dict, now: datetime) -> None:
    changed = [key for key in _REVIEWED if getattr(lead, key) != before[key]]
    if not changed:
        return  # e.g. approving an approved lead
    detail = {"rejected": lead.reject_reason, "merged": lead.merged_into_type,
              "edited": ",".join(key for key in EDITABLE if key in changed)}.get(action)
    event = LeadEvent(organization_id=lead.organization_id, lead_id=lead.id, actor_id=user.id if user else None,
                      action=action, at=now, detail=detail)
    if action == "assigned":
        event.from_user_id, event.to_user_id = before["owner_id"], lead.owner_id
    session.add(event)
    session.flush()
    session.expire(lead, ["events"])
    emit_lead_review(session, lead.organization_id, lead.id, action, now)  # webhooks


@review_action("edited", reviewers_only=False)
def update_lead(session, lead: Lead, changes: dict, now: datetime, user: User | None = None) -> Lead:
    """Details of a lead (name, company, e-mail, source), by its owner or a
    reviewer (`user`, the history's actor). A merged lead is read-only: 409."""
    if lead.status == "merged":
        raise _refuse(lead, "lead_merged", "This lead was merged into another record; edit that one.")
    for key in EDITABLE:
        if key in changes:
            setattr(lead, key, changes[key])
    lead.updated_at = now
    session.flush()
    return lead


def _state(lead: Lead) -> dict:
    return {"status": lead.status, "reject_reason": lead.reject_reason, "merged_into_type": lead.merged_into_type,
            "merged_into_id": lead.merged_into_id}


def _refuse(lead: Lead, code: str, message: str) -> ServiceError:
    """409 carrying the lead's current state: the reviewer lost a race, or
    the decision was taken already."""
    return ServiceError(409, code, message, fields={"current": _state(lead)})


def _suppression_hash(lead: Lead, hash_key: str) -> str:
    return number_hash(hash_key, SUPPRESS, lead.organization_id, lead.phone)


def _lift_suppressions(session, lead: Lead) -> None:
    """Remove the suppressions this lead's rejection created."""
    session.execute(delete(Suppression).where(Suppression.organization_id == lead.organization_id,
                                              Suppression.lead_id == lead.id))


@review_action("approved")
def approve(session, lead: Lead, user: User, now: datetime) -> Lead:
    """Approve a pending lead, or a rejected one (which lifts the suppression
    its rejection created). Approving an approved lead changes nothing."""
    if lead.status == "merged":
        raise _refuse(lead, "lead_merged", "This lead was merged into another record.")
    if lead.status == "approved":
        return lead
    if lead.status == "rejected":
        _lift_suppressions(session, lead)
    lead.status, lead.reject_reason, lead.updated_at = "approved", None, now
    session.flush()
    return lead


@review_action("rejected")
def reject(session, lead: Lead, user: User, reason: str, now: datetime, hash_key: str) -> Lead:
    """Reject a pending lead (or change a rejection's reason); `spam`
    suppresses its number for the whole organisation, `personal` only for the
    rep who owns it. An approved lead is not rejected: 409."""
    if lead.status == "merged":
        raise _refuse(lead, "lead_merged", "This lead was merged into another record.")
    if lead.status == "approved":
        raise _refuse(lead, "lead_approved", "This lead was approved; it is no longer up for review.")
    if lead.status == "rejected" and lead.reject_reason == reason:
        return lead
    _lift_suppressions(session, lead)
    lead.status, lead.reject_reason, lead.updated_at = "rejected", reason, now
    if lead.phone and reason in ("spam", "personal"):
        digest = _suppression_hash(lead, hash_key)
        scope_user = None if reason == "spam" else lead.owner_id
        exists = session.execute(select(Suppression.id).where(
            Suppression.organization_id == lead.organization_id, Suppression.number_hash == digest,
            Suppression.user_id.is_(None) if scope_user is None else Suppression.user_id == scope_user)).scalar()
        if not exists:
            session.add(Suppression(organization_id=lead.organization_id, number_hash=digest, user_id=scope_user,
                                    reason=reason, lead_id=lead.id, created_at=now))
    session.flush()
    return lead


@review_action("merged", lock=_lock_for_merge)
def merge(session, lead: Lead, user: User, into_type: str, into_id: int, now: datetime) -> Lead:
    """Merge a lead into a contact or another lead: its number joins that
    record, and its calls, notes and open tasks move there."""
    if lead.status == "merged":
        raise _refuse(lead, "lead_merged", "This lead was already merged.")
    model = Contact if into_type == "contact" else Lead
    target = session.get(model, into_id)
    if target is None or target.organization_id != lead.organization_id or (
            into_type == "lead" and target.id == lead.id):
        raise not_found(into_type)
    if into_type == "lead" and target.status == "merged":
        raise _refuse(target, "target_merged", "The record to merge into was itself merged into another.")
    org_id = lead.organization_id
    moved_numbers = record_numbers(session, org_id, "lead", [lead.id])[lead.id]
    if moved_numbers:
        target_numbers = record_numbers(session, org_id, into_type, [target.id])[target.id]
        combined = [normalize_number(e, None) for e in dict.fromkeys(target_numbers + moved_numbers)]
        set_record_phones(session, organization_id=org_id, record_type="lead", record_id=lead.id, numbers=[],
                          now=now)
        set_record_phones(session, organization_id=org_id, record_type=into_type, record_id=target.id,
                          numbers=combined, now=now)
    relink_calls(session, org_id, "lead", lead.id, into_type, target.id)
    session.execute(update(Note).where(Note.organization_id == org_id, Note.record_type == "lead",
                                       Note.record_id == lead.id).values(record_type=into_type, record_id=target.id))
    session.execute(update(Task).where(Task.organization_id == org_id, Task.record_type == "lead",
                                       Task.record_id == lead.id).values(record_type=into_type, record_id=target.id))
    recount_records(session, org_id, {(into_type, target.id)}, now)
    if lead.last_note and not target.last_note:
        target.last_note = lead.last_note
    lead.status, lead.merged_into_type, lead.merged_into_id = "merged", into_type, target.id
    lead.phone, lead.updated_at = None, now
    session.flush()
    return lead


@review_action("assigned")
def assign(session, lead: Lead, user: User, new_owner_id: int, now: datetime) -> Lead:
    """Give the lead to another active user of the organisation."""
    _user_in_org(session, lead.organization_id, new_owner_id)
    lead.owner_id, lead.updated_at = new_owner_id, now
    session.flush()
    return lead


def add_note(session, *, user: User, record_type: str, record_id: int, text: str, now: datetime,
             own_only: bool = False) -> Note:
    """A note on a record the user may see; it becomes the record's last note."""
    if record_type == "lead":
        record = get_lead(session, record_id, user, own_only)
    elif record_type == "contact":  # locked: a deletion meanwhile (a CRM pull's too) makes it a 404
        record = get_contact(session, user.organization_id, record_id, for_update=True)
    else:
        raise not_found("record type")
    note = Note(organization_id=user.organization_id, record_type=record_type, record_id=record_id,
                author_id=user.id, text=text, created_at=now)
    session.add(note)
    record.last_note = text
    session.flush()
    return note


def pending_count(session, organization_id: int) -> int:
    return session.execute(select(func.count()).select_from(Lead).where(
        Lead.organization_id == organization_id, Lead.status == "pending_review")).scalar_one()



def bulk(session, *, user: User, ids: list[int], action: str, params: dict, now: datetime,
         hash_key: str) -> list[dict]:
    """Apply one review action to many leads; each id succeeds or fails alone."""
    results = []
    for lead_id in ids:
        try:
            with session.begin_nested():
                lead = get_lead(session, lead_id, user)
                if action == "approve":
                    approve(session, lead, user, now)
                elif action == "reject":
                    reject(session, lead, user, params["reason"], now, hash_key)
                elif action == "assign":
                    assign(session, lead, user, params["user_id"], now)
                elif action == "merge":
                    merge(session, lead, user, params["into_type"], params["into_id"], now)
            results.append({"id": lead_id, "status": "ok"})
        except ServiceError as err:
            results.append({"id": lead_id, "status": "error", "code": err.code, "message": err.message})
    return results
