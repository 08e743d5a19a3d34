"""The pages' blueprint: sign in and out, the guard every page passes (the
session, the viewer's zone, the CSRF check of every POST), the headers, the
template filters and the error pages; each area's pages are registered from
their own module (the review queue and a lead's page: review_pages.py).
Server-rendered forms; each view calls the same domain functions as the API
and commits once.
"""
from __future__ import annotations

import logging
import traceback

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from mobile_sync import accounts
from mobile_sync.accounts import LoginLimits
from mobile_sync.call_types import LABELS
from mobile_sync.errors import ServiceError
from mobile_sync.org_settings import effective_settings
from mobile_sync.phones import format_international
from mobile_sync.roles import is_reviewer
from mobile_sync.store.models import PushMessage
from mobile_sync.tokens import hash_token
from schemas.accounts import LoginSchema
from schemas.leads import REASONS, STATUSES
from server.clock import now
from server.extensions import db
from server.tenancy import set_session_organization
from server.web import account_pages, console_pages, session_auth, work_hours_pages
from server.web import report_pages, settings_pages
from server.web import contact_pages
from server.web import webhook_pages
from server.web import integration_pages
from server.web import private_number_pages
from server.web import review_pages
from server.web.forms import zone
from server.web.safe_redirect import safe_next
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
integration_pages.register(bp)  # /integrations (admins)
private_number_pages.register(bp)  # /account/private-numbers
review_pages.register(bp)  # /review, /leads/<id> and its actions
log = logging.getLogger(__name__)
PUBLIC_ENDPOINTS = ("web.login", "web.static", *account_pages.PUBLIC)
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
    target = safe_next(request.full_path) if request.method == "GET" else None
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
            "here": safe_next(request.full_path)}


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


# --- sign in and out --------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with e-mail and password (the API's throttling); managers and admins only."""
    target = safe_next(request.values.get("next"))
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


@bp.get("/push-sink")
def push_sink():
    """The latest pushes recorded: what was sent, or (without FCM credentials)
    what would have been. Values are opaque ids or sealed for the device."""
    rows = db.session.execute(select(PushMessage).where(PushMessage.organization_id == g.web_user.organization_id)
                              .order_by(PushMessage.id.desc()).limit(100)).scalars().all()
    return render_template("web/push_sink.html", pushes=rows)


