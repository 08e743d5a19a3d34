"""The review pages: the queue (search, filters, bulk actions), a lead's page
(details, numbers, calls, tasks, notes, history) and its review actions,
and the merge-target picker. Each calls the API's domain functions and
schemas and commits once."""
from __future__ import annotations

from collections import Counter

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError

from mobile_sync import accounts, leads
from mobile_sync.errors import ServiceError
from mobile_sync.lead_details import lead_page_details
from schemas.leads import (
    BULK_LIMIT, AssignSchema, BulkSchema, LeadUpdateSchema, MergeSchema, NoteCreateSchema, RejectSchema,
)
from server.audit import push_pending_events, record_access
from server.auth import Principal
from server.clock import now
from server.extensions import db
from server.web.forms import (
    ANY_STATUS, SORT_LABELS, bulk_body, bulk_scope, field_errors, lead_edit_data, load_filters, merge_search,
    start_of_day,
)
from server.web.safe_redirect import safe_next



def register(bp) -> None:
    bp.add_url_rule("/review", "review", review, methods=["GET"])
    bp.add_url_rule("/review/bulk", "review_bulk", review_bulk, methods=["POST"])
    bp.add_url_rule("/leads/<int:lead_id>", "lead_page", lead_page, methods=["GET"])
    bp.add_url_rule("/leads/<int:lead_id>/edit", "edit_lead", edit_lead, methods=["POST"])
    bp.add_url_rule("/leads/<int:lead_id>/merge", "merge_picker", merge_picker, methods=["GET"])
    bp.add_url_rule("/leads/<int:lead_id>/approve", "approve", approve, methods=["POST"])
    bp.add_url_rule("/leads/<int:lead_id>/reject", "reject", reject, methods=["POST"])
    bp.add_url_rule("/leads/<int:lead_id>/merge", "merge", merge, methods=["POST"])
    bp.add_url_rule("/leads/<int:lead_id>/assign", "assign", assign, methods=["POST"])
    bp.add_url_rule("/leads/<int:lead_id>/notes", "add_note", add_note, methods=["POST"])


def _audit_read(action: str, object_id: int | None = None, count: int | None = None,
                also: tuple = ()) -> None:
    """Pages read client data too: into the access audit, like the API's reads
    (a lead's, and `also` other (action, object type, count) reads); one commit."""
    user = g.web_user
    principal = Principal(kind="user", organization_id=user.organization_id, user=user)
    record_access(principal, action, "lead", object_id, count)
    for other_action, object_type, other_count in also:
        record_access(principal, other_action, object_type, None, other_count)
    db.session.commit()
    push_pending_events()


def _queue(filters: dict, page: int, limit: int = leads.PAGE_SIZE):
    """The leads the queue's filters find: (leads, next page, counts per status, how many match)."""
    since = start_of_day(filters["since"], g.web_tz) if filters.get("since") else None
    status = None if filters["status"] == ANY_STATUS else filters["status"]
    items, next_page, counts = leads.list_leads(db.session, user=g.web_user, status=status,
                                                owner_id=filters.get("owner_id"), source=filters.get("source"),
                                                since=since, q=filters.get("q"), sort=filters.get("sort"),
                                                page=page, limit=limit)
    return items, next_page, counts, (counts.get(status, 0) if status else sum(counts.values()))


def review():
    """The queue, newest first (or by name or latest call), searched and
    filtered by status, owner, source and creation date, with each status's
    count; leads are ticked for a bulk action, or all on the page, or all
    that match (up to the API's bulk limit)."""
    filters, ignored = load_filters(request.args)
    items, next_page, counts, matching = _queue(filters, filters["page"])
    users = accounts.list_users(db.session)
    _audit_read("lead.list", count=len(items))
    page_args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("web/review.html", leads=items, users=users, owners={u.id: u for u in users},
                           filters=filters, ignored=ignored, page=filters["page"], next_page=next_page,
                           page_args=page_args, counts=counts, sorts=SORT_LABELS, matching=matching,
                           bulk_limit=BULK_LIMIT)


def review_bulk():
    """One review action on the ticked leads, all on the page, or all that
    match the filters (at most BULK_LIMIT): the API's bulk action, with a
    result per lead."""
    filters, _ = load_filters(request.form)
    page_args = {k: v for k, v in request.form.items() if k in filters and k != "page" and v}
    back = url_for("web.review", **page_args)
    scope = bulk_scope(request.form)
    if scope == "matching":
        ids = [lead.id for lead in _queue(filters, 1, BULK_LIMIT)[0]]
    else:
        ids = request.form.getlist("page_ids" if scope == "page" else "ids")
    if not ids:
        flash("Tick at least one lead, or choose all on the page or all that match.", "error")
        return redirect(back)
    try:
        body = BulkSchema().load(bulk_body(request.form, ids))
    except ValidationError as err:
        flash(f"Bulk action: please check {', '.join(sorted(err.messages)).replace('_', ' ')}.", "error")
        return redirect(back)
    params = {k: body[k] for k in ("reason", "user_id") if k in body}
    results = leads.bulk(db.session, user=g.web_user, ids=body["ids"], action=body["action"], params=params,
                         now=now(), hash_key=current_app.config["HASH_KEY"])
    db.session.commit()
    users = accounts.list_users(db.session)
    return render_template("web/bulk_results.html", results=results, action=body["action"], params=params,
                           found=leads.leads_by_id(db.session, g.web_user, [r["id"] for r in results]),
                           owners={u.id: u for u in users}, back=back,
                           done=sum(r["status"] == "ok" for r in results))


def lead_page(lead_id: int):
    """A lead with every number, its calls, tasks, notes and review history,
    the review actions, the details form and a note form."""
    return _lead_page(lead_id)


def _lead_page(lead_id: int, form: dict | None = None, errors: dict | None = None, status: int = 200):
    details = lead_page_details(db.session, leads.get_lead(db.session, lead_id, g.web_user))
    users = accounts.list_users(db.session)
    _audit_read("lead.read", lead_id)
    lead = details["lead"]
    form = form or {key: getattr(lead, key) or "" for key in leads.EDITABLE}
    return render_template("web/lead.html", users=users, owners={u.id: u for u in users}, form=form,
                           errors=errors or {}, **details), status


def edit_lead(lead_id: int):
    """Save a lead's details through the API's schema and domain function;
    bad input is the page again with a message beside the field (422)."""
    lead = leads.get_lead(db.session, lead_id, g.web_user)
    try:
        body = LeadUpdateSchema().load(lead_edit_data(request.form))
    except ValidationError as err:
        return _lead_page(lead_id, form=request.form.to_dict(), errors=field_errors(err), status=422)
    try:
        leads.update_lead(db.session, lead, body, now(), user=g.web_user)
    except ServiceError as err:
        db.session.rollback()
        flash(f"Lead #{lead_id}: {_explain(err)}", "error")
    else:
        _audit_read("lead.update", lead_id)  # commits the change with its audit row
        flash(f"Details of lead #{lead_id} saved.", "ok")
    return redirect(url_for("web.lead_page", lead_id=lead_id))


def merge_picker(lead_id: int):
    """Find the record to merge a lead into by a name, company, e-mail or
    number; each candidate shows its numbers and merges with one button."""
    lead = leads.get_lead(db.session, lead_id, g.web_user)
    q = merge_search(request.args)
    candidates = leads.merge_candidates(db.session, lead, g.web_user, q) if q and lead.status != "merged" else []
    found = Counter(c["type"] for c in candidates)
    _audit_read("lead.read", lead_id, also=tuple((f"{kind}.list", kind, n) for kind, n in found.items()))
    back = safe_next(request.args.get("next") or url_for("web.lead_page", lead_id=lead_id))
    return render_template("web/merge_picker.html", lead=lead, q=q, candidates=candidates, back=back)


def _explain(err: ServiceError) -> str:
    """The error's message, or its per-field messages when it has them."""
    details = [m for messages in (err.fields or {}).values() if isinstance(messages, list)
               for m in messages if isinstance(m, str)]
    return " ".join(details) or err.message


def _act(lead_id: int, schema, action, done: str):
    """Run one review action on a lead of this organisation, commit, and go back
    to the page it came from with a message."""
    lead = leads.get_lead(db.session, lead_id, g.web_user)  # another organisation's lead: 404 page
    back = safe_next(request.form.get("next"))
    try:
        body = schema(unknown=EXCLUDE).load(request.form.to_dict()) if schema else {}
        action(lead, body)
        db.session.commit()
    except ValidationError as err:
        db.session.rollback()
        fields = ", ".join(sorted(err.messages)) if isinstance(err.messages, dict) else "form"
        flash(f"Lead #{lead_id}: please check {fields.replace('_', ' ')}.", "error")
    except ServiceError as err:
        db.session.rollback()
        flash(f"Lead #{lead_id}: {_explain(err)}", "error")
    else:
        flash(done.format(id=lead_id, **body), "ok")
    return redirect(back)


def approve(lead_id: int):
    return _act(lead_id, None, lambda lead, _: leads.approve(db.session, lead, g.web_user, now()),
                "Lead #{id} approved.")


def reject(lead_id: int):
    def run(lead, body):
        leads.reject(db.session, lead, g.web_user, body["reason"], now(), current_app.config["HASH_KEY"])

    return _act(lead_id, RejectSchema, run, "Lead #{id} rejected ({reason}).")


def merge(lead_id: int):
    def run(lead, body):
        leads.merge(db.session, lead, g.web_user, body["into_type"], body["into_id"], now())

    return _act(lead_id, MergeSchema, run, "Lead #{id} merged into {into_type} #{into_id}.")


def assign(lead_id: int):
    def run(lead, body):
        leads.assign(db.session, lead, g.web_user, body["user_id"], now())

    return _act(lead_id, AssignSchema, run, "Lead #{id} reassigned.")


def add_note(lead_id: int):
    def run(lead, body):
        leads.add_note(db.session, user=g.web_user, record_type="lead", record_id=lead.id, text=body["text"],
                       now=now())

    return _act(lead_id, NoteCreateSchema, run, "Note added to lead #{id}.")
