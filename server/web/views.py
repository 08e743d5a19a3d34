"""The manager's pages: sign in, the review queue, a lead with its calls and
notes. Server-rendered forms; every POST carries the session's CSRF token,
checked once in `_guard`. Each view calls the same domain functions as the
API and commits once.
"""
from __future__ import annotations

import logging
from collections import Counter
import traceback
import unicodedata
from urllib.parse import unquote

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from mobile_sync import accounts, leads
from mobile_sync.accounts import LoginLimits
from mobile_sync.call_types import LABELS
from mobile_sync.errors import ServiceError
from mobile_sync.org_settings import effective_settings
from mobile_sync.phones import format_international
from mobile_sync.roles import is_reviewer
from mobile_sync.store.models import PushMessage
from mobile_sync.tokens import hash_token
from schemas.accounts import LoginSchema
from schemas.leads import (
    BULK_LIMIT, REASONS, STATUSES, AssignSchema, BulkSchema, LeadUpdateSchema, MergeSchema, NoteCreateSchema,
    RejectSchema,
)
from server.audit import push_pending_events, record_access
from server.auth import Principal
from server.clock import now
from server.extensions import db
from server.tenancy import set_session_organization
from server.web import account_pages, console_pages, session_auth, work_hours_pages
from server.web import report_pages, settings_pages
from server.web import contact_pages
from server.web import webhook_pages
from server.web import private_number_pages
from server.web.forms import (
    ANY_STATUS, bulk_body, bulk_scope, field_errors, lead_edit_data, load_filters, merge_search, start_of_day, zone,
)
from schemas.fields import MAX_ID

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/web/static")
account_pages.register(bp)  # /invite, /reset-password, /account
console_pages.register(bp)  # /team, /devices
work_hours_pages.register(bp)  # /account/hours, /team/users/<id>/hours
settings_pages.register(bp)  # /settings (admins)
report_pages.register(bp)  # /reports (managers, admins)
contact_pages.register(bp)  # /contacts, /contacts/import, /calls, /records/<type>/<id>/erase
webhook_pages.register(bp)  # /webhooks (admins)
private_number_pages.register(bp)  # /account/private-numbers
log = logging.getLogger(__name__)
PUBLIC_ENDPOINTS = ("web.login", "web.static", *account_pages.PUBLIC)
SORT_LABELS = {"created": "newest first", "last_call": "latest call first", "name": "name, A to Z"}
REP_REFUSED = ("This account is a sales rep's. The review pages are for managers and admins; "
               "reps work from the phone app.")


@bp.record_once
def _configure(state) -> None:
    session_auth.configure_cookie(state.app)


# --- one gate for every page: CSRF on POST, then the signed-in manager -----

@bp.before_request
def _guard():
    if request.endpoint == "web.static":
        return None
    if request.method == "POST" and not session_auth.csrf_ok(request.form.get(session_auth.CSRF_FIELD)):
        return _error_page(400, "This form has expired",
                           "The page was open too long or came from elsewhere. Go back, reload it and try again.")
    user = session_auth.signed_in_user()
    g.web_user = user
    if user is not None:
        if any(isinstance(v, int) and v > MAX_ID for v in (request.view_args or {}).values()):
            return _error_page(404, "Not found", "There is no such page.")  # beyond any stored id
        set_session_organization(db.session, user.organization_id)
        # Times are shown in the viewer's own zone, else the organisation's.
        g.web_tz = zone(user.timezone or effective_settings(user.organization).get("timezone"))
        return None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    target = _safe_next(request.full_path) if request.method == "GET" else None
    return redirect(url_for("web.login", next=target))


@bp.after_request
def _headers(response):
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'")
    return response


@bp.context_processor
def _template_globals():
    return {"csrf_token": session_auth.csrf_token, "csrf_field": session_auth.CSRF_FIELD,
            "current_user": g.get("web_user"), "zone_label": getattr(g.get("web_tz"), "key", "UTC"),
            "statuses": STATUSES, "reasons": REASONS,
            "here": _safe_next(request.full_path)}


@bp.app_template_filter("phone")
def _phone(e164):
    return format_international(e164) if e164 else "—"


@bp.app_template_filter("local_time")
def _local_time(value, fmt="%d %b %Y, %H:%M %Z"):
    """A time in the viewer's zone, labelled with the zone's abbreviation
    (IST, BST, or an offset such as +04 where the zone has none)."""
    if value is None:
        return "—"
    return value.astimezone(g.get("web_tz") or zone(None)).strftime(fmt)


@bp.app_template_filter("duration")
def _duration(seconds):
    seconds = int(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


@bp.app_template_filter("call_type")
def _call_type(code):
    return LABELS.get(code, str(code)).replace("_", " ")


@bp.app_template_filter("humanize")
def _humanize(code):
    return (code or "—").replace("_", " ").replace(":", ": ")


# --- errors are pages here, not the API's JSON ------------------------------

def _error_page(status: int, title: str, message: str, headers=None):
    return render_template("web/error.html", status=status, title=title, message=message), status, headers or {}


@bp.errorhandler(ServiceError)
def _service_error(err: ServiceError):
    db.session.rollback()
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Too many attempts"}
    return _error_page(err.status, titles.get(err.status, "Something is wrong"), err.message, err.headers)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    db.session.rollback()
    message = "There is no such page." if err.code == 404 else err.description
    return _error_page(err.code or 500, err.name, message)


@bp.errorhandler(Exception)
def _unexpected(err: Exception):
    db.session.rollback()
    frames = traceback.extract_tb(err.__traceback__)[-4:]
    where = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in reversed(frames))
    log.error("unhandled %s on a web page at %s", type(err).__name__, where)
    return _error_page(500, "Something went wrong", "Something went wrong on our side. Please try again.")


def _safe_next(value: str | None) -> str:
    """A redirect target: a path on this site, else the review queue.

    Browsers drop tabs and newlines inside a URL and read a backslash as a
    slash, so `/<tab>/evil.com` would leave the site, and a newline cannot go
    in a header at all. The target is judged as given and percent-decoded:
    a control or space character, a backslash or `//` in its path, or a
    control character or backslash in its query, sends to the queue instead.
    """
    value = (value or "").rstrip("?")
    path, _, query = value.partition("?")
    decoded_path, decoded_query = _fully_unquoted(path), _fully_unquoted(query)
    if (not path.startswith("/") or decoded_path is None or decoded_query is None
            or any(_unsafe_in_url(ch) for ch in value + decoded_path) or "//" in decoded_path
            or any(_unsafe_in_url(ch, space_ok=True) for ch in decoded_query)):
        return url_for("web.review")
    return value


def _fully_unquoted(text: str, rounds: int = 4) -> str | None:
    """`text` percent-decoded until it no longer changes; None if it keeps changing."""
    for _ in range(rounds):
        decoded = unquote(text)
        if decoded == text:
            return text
        text = decoded
    return None


def _unsafe_in_url(ch: str, space_ok: bool = False) -> bool:
    """A backslash, or a control, format or space character (of any script)."""
    kind = unicodedata.category(ch)[0]
    return ch == "\\" or kind == "C" or (kind == "Z" and not (space_ok and ch == " "))


# --- sign in and out --------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with e-mail and password (the API's throttling); managers and admins only."""
    target = _safe_next(request.values.get("next"))
    if g.web_user is not None:
        return redirect(target)
    if request.method == "GET":
        return render_template("web/login.html", next=target, email="", error=None)
    email = request.form.get("email", "")
    try:
        body = LoginSchema(unknown=EXCLUDE).load(request.form.to_dict())
    except ValidationError:
        return render_template("web/login.html", next=target, email=email,
                               error="Enter your e-mail address and password."), 400
    limits = LoginLimits.from_config(current_app.config)
    try:
        user, token = accounts.login(db.session, email=body["email"], password=body["password"],
                                     address=request.remote_addr or "unknown", now=now(), limits=limits)
    except ServiceError as err:
        db.session.commit()  # keep the recorded failure, as the API does
        return render_template("web/login.html", next=target, email=email, error=err.message), err.status, \
            err.headers
    # The browser signs in with the cookie; the bearer token login() made is not handed out.
    accounts.revoke_token(db.session, hash_token(token), now())
    db.session.commit()
    if not is_reviewer(user.role):
        return render_template("web/login.html", next=target, email=email, error=REP_REFUSED), 403
    session_auth.start_session(user, token)
    return redirect(target)


@bp.post("/logout")
def logout():
    session_auth.sign_out()
    db.session.commit()
    flash("You are signed out.", "ok")
    return redirect(url_for("web.login"))


# --- the review queue and a lead's page -------------------------------------

@bp.get("/")
def home():
    return redirect(url_for("web.review"))


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


@bp.get("/review")
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


@bp.post("/review/bulk")
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


@bp.get("/push-sink")
def push_sink():
    """The latest pushes recorded: what was sent, or (without FCM credentials)
    what would have been. Values are opaque ids or sealed for the device."""
    rows = db.session.execute(select(PushMessage).where(PushMessage.organization_id == g.web_user.organization_id)
                              .order_by(PushMessage.id.desc()).limit(100)).scalars().all()
    return render_template("web/push_sink.html", pushes=rows)


@bp.get("/leads/<int:lead_id>")
def lead_page(lead_id: int):
    """A lead with every number, its calls, tasks, notes and review history,
    the review actions, the details form and a note form."""
    return _lead_page(lead_id)


def _lead_page(lead_id: int, form: dict | None = None, errors: dict | None = None, status: int = 200):
    details = leads.lead_page_details(db.session, leads.get_lead(db.session, lead_id, g.web_user))
    users = accounts.list_users(db.session)
    _audit_read("lead.read", lead_id)
    lead = details["lead"]
    form = form or {key: getattr(lead, key) or "" for key in leads.EDITABLE}
    return render_template("web/lead.html", users=users, owners={u.id: u for u in users}, form=form,
                           errors=errors or {}, **details), status


@bp.post("/leads/<int:lead_id>/edit")
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


@bp.get("/leads/<int:lead_id>/merge")
def merge_picker(lead_id: int):
    """Find the record to merge a lead into by a name, company, e-mail or
    number; each candidate shows its numbers and merges with one button."""
    lead = leads.get_lead(db.session, lead_id, g.web_user)
    q = merge_search(request.args)
    candidates = leads.merge_candidates(db.session, lead, g.web_user, q) if q and lead.status != "merged" else []
    found = Counter(c["type"] for c in candidates)
    _audit_read("lead.read", lead_id, also=tuple((f"{kind}.list", kind, n) for kind, n in found.items()))
    back = _safe_next(request.args.get("next") or url_for("web.lead_page", lead_id=lead_id))
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
    back = _safe_next(request.form.get("next"))
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


@bp.post("/leads/<int:lead_id>/approve")
def approve(lead_id: int):
    return _act(lead_id, None, lambda lead, _: leads.approve(db.session, lead, g.web_user, now()),
                "Lead #{id} approved.")


@bp.post("/leads/<int:lead_id>/reject")
def reject(lead_id: int):
    def run(lead, body):
        leads.reject(db.session, lead, g.web_user, body["reason"], now(), current_app.config["HASH_KEY"])

    return _act(lead_id, RejectSchema, run, "Lead #{id} rejected ({reason}).")


@bp.post("/leads/<int:lead_id>/merge")
def merge(lead_id: int):
    def run(lead, body):
        leads.merge(db.session, lead, g.web_user, body["into_type"], body["into_id"], now())

    return _act(lead_id, MergeSchema, run, "Lead #{id} merged into {into_type} #{into_id}.")


@bp.post("/leads/<int:lead_id>/assign")
def assign(lead_id: int):
    def run(lead, body):
        leads.assign(db.session, lead, g.web_user, body["user_id"], now())

    return _act(lead_id, AssignSchema, run, "Lead #{id} reassigned.")


@bp.post("/leads/<int:lead_id>/notes")
def add_note(lead_id: int):
    def run(lead, body):
        leads.add_note(db.session, user=g.web_user, record_type="lead", record_id=lead.id, text=body["text"],
                       now=now())

    return _act(lead_id, NoteCreateSchema, run, "Note added to lead #{id}.")
