"""Leads and their review, notes on records, call-back tasks."""
from __future__ import annotations

from flask import Blueprint, current_app

from mobile_sync import callback_tasks, leads
from mobile_sync.lead_details import lead_details
from mobile_sync.list_export import LEAD_COLUMNS, lead_row
from mobile_sync.roles import REP, REVIEWERS
from schemas.leads import (
    AssignSchema, BulkResultSchema, BulkSchema, LeadCreateSchema, LeadDetailSchema, LeadListSchema, LeadQuerySchema,
    LeadSchema, LeadUpdateSchema, MergeSchema, NoteCreateSchema, NoteSchema, RejectSchema, TaskListSchema,
    TaskQuerySchema, TaskSchema,
)
from schemas.list_dump import dumper
from server.api.list_export import csv_download, csv_responses, list_audit
from server.api.routing import operation
from server.auth import ANY, USER
from server.clock import now
from server.extensions import db

bp = Blueprint("leads", __name__, url_prefix="/api/v1")
# A page answered as LeadListSchema dumps it (`serialized`: schemas.list_dump).
_dump_page = dumper(LeadListSchema)


class _LeadWithActivity:
    """A lead plus its calls and notes, for LeadDetailSchema."""

    def __init__(self, lead, calls, notes):
        self._lead, self.calls, self.notes = lead, calls, notes

    def __getattr__(self, name):
        return getattr(self._lead, name)


def _detail(lead):
    details = lead_details(db.session, lead)
    return _LeadWithActivity(details["lead"], details["calls"], details["notes"])


@operation(bp, "/leads", "GET", auth=ANY, query=LeadQuerySchema, response=LeadListSchema,
           responses=csv_responses(LeadListSchema), audit=list_audit("lead"), serialized=True, reads_only=True)
def list_leads(principal, args):
    """Leads, newest first (or by `sort`), found by `q`: a rep's own; all for
    managers and admins. `counts` has each status's total under the same filters.
    `format=csv`: every matching lead as CSV."""
    own_only = principal.role == REP
    if args.pop("format") == "csv":
        filters = {k: v for k, v in args.items() if k not in ("page", "limit")}

        def pages(page, limit):
            items, next_page, _ = leads.list_leads(db.session, user=principal.user, own_only=own_only, page=page,
                                                   limit=limit, with_counts=False, **filters)
            return items, next_page
        return csv_download(principal, "lead", pages, LEAD_COLUMNS, lead_row)
    items, next_page, counts = leads.list_leads(db.session, user=principal.user, own_only=own_only, **args)
    return _dump_page({"items": items, "next_page": next_page, "counts": counts})


@operation(bp, "/leads", "POST", auth=ANY, body=LeadCreateSchema, response=LeadSchema, status=201)
def create_lead(principal, body):
    """Enter a lead by hand (no consent needed)."""
    return leads.create_manual_lead(db.session, user=principal.user, fields=body, now=now(),
                                    hash_key=current_app.config["HASH_KEY"])


@operation(bp, "/leads/<int:lead_id>", "GET", auth=ANY, response=LeadDetailSchema, audit="lead.read")
def get_lead(principal, lead_id):
    """A lead with its calls and notes."""
    return _detail(leads.get_lead(db.session, lead_id, principal.user, own_only=principal.role == REP))


@operation(bp, "/leads/<int:lead_id>", "PATCH", auth=ANY, body=LeadUpdateSchema, response=LeadDetailSchema,
           audit="lead.update")
def update_lead(principal, body, lead_id):
    """Add details to a lead (its owner, managers, admins)."""
    lead = leads.get_lead(db.session, lead_id, principal.user, own_only=principal.role == REP)
    return _detail(leads.update_lead(db.session, lead, body, now(), user=principal.user))


@operation(bp, "/leads/<int:lead_id>/approve", "POST", auth=USER, roles=REVIEWERS, response=LeadSchema)
def approve_lead(principal, lead_id):
    """Approve a lead."""
    return leads.approve(db.session, leads.get_lead(db.session, lead_id, principal.user), principal.user, now())


@operation(bp, "/leads/<int:lead_id>/reject", "POST", auth=USER, roles=REVIEWERS, body=RejectSchema,
           response=LeadSchema)
def reject_lead(principal, body, lead_id):
    """Reject a lead as personal (suppressed for its rep), spam (for everyone) or not a lead."""
    lead = leads.get_lead(db.session, lead_id, principal.user)
    return leads.reject(db.session, lead, principal.user, body["reason"], now(), current_app.config["HASH_KEY"])


@operation(bp, "/leads/<int:lead_id>/merge", "POST", auth=USER, roles=REVIEWERS, body=MergeSchema,
           response=LeadSchema)
def merge_lead(principal, body, lead_id):
    """Merge a lead into a contact or another lead; its number, calls and notes move."""
    lead = leads.get_lead(db.session, lead_id, principal.user)
    return leads.merge(db.session, lead, principal.user, body["into_type"], body["into_id"], now())


@operation(bp, "/leads/<int:lead_id>/assign", "POST", auth=USER, roles=REVIEWERS, body=AssignSchema,
           response=LeadSchema)
def assign_lead(principal, body, lead_id):
    """Give a lead to another rep."""
    lead = leads.get_lead(db.session, lead_id, principal.user)
    return leads.assign(db.session, lead, principal.user, body["user_id"], now())


@operation(bp, "/leads/bulk", "POST", auth=USER, roles=REVIEWERS, body=BulkSchema, response=BulkResultSchema)
def bulk_leads(principal, body):
    """One review action on many leads, with a result per id."""
    params = {k: body[k] for k in ("reason", "user_id", "into_type", "into_id") if k in body}
    results = leads.bulk(db.session, user=principal.user, ids=body["ids"], action=body["action"], params=params,
                         now=now(), hash_key=current_app.config["HASH_KEY"])
    return {"results": results}


@operation(bp, "/records/<string:record_type>/<int:record_id>/notes", "POST", auth=ANY, body=NoteCreateSchema,
           response=NoteSchema, status=201)
def add_note(principal, body, record_type, record_id):
    """A note on a contact or lead; shown in caller ID as the last note."""
    return leads.add_note(db.session, user=principal.user, record_type=record_type, record_id=record_id,
                          text=body["text"], now=now(), own_only=principal.role == REP)


@operation(bp, "/tasks", "GET", auth=ANY, query=TaskQuerySchema, response=TaskListSchema, audit="task.list")
def list_tasks(principal, args):
    """Your call-back tasks (missed calls from known customers)."""
    items, next_page = callback_tasks.list_tasks(db.session, organization_id=principal.organization_id,
                                                 owner_id=principal.user_id, **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/tasks/<int:task_id>/done", "POST", auth=ANY, response=TaskSchema)
def complete_task(principal, task_id):
    """Mark a call-back task done."""
    return callback_tasks.complete_task(db.session, organization_id=principal.organization_id, task_id=task_id,
                                        user_id=principal.user.id,
                                        is_manager=principal.is_manager, now=now())
