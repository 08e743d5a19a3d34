"""The account pages: accepting an invitation, setting a forgotten password,
and the signed-in user's own password and sessions (`/account`).

They are views of the pages' blueprint (`register` adds them in
server/web/views.py), so its CSRF check, headers, error pages and session
login apply; each calls the same domain functions as the API and commits once.
"""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError

from mobile_sync import invites, password_reset
from mobile_sync.accounts import LoginLimits, check_password, revoke_token
from mobile_sync.errors import ServiceError
from mobile_sync.roles import is_reviewer
from mobile_sync.sign_ins import end_sign_ins, set_password
from mobile_sync.store.models import Organization
from mobile_sync.tokens import hash_token
from schemas.accounts import (
    InviteAcceptSchema, PasswordChangeSchema, PasswordResetConfirmSchema, PasswordResetRequestSchema,
)
from server.api.accounts import password_reset_requested
from server.clock import now
from server.extensions import db
from server.web import session_auth
from server.web.work_hours_pages import hours_form_context

PUBLIC = ("web.invite", "web.reset_password")
FIELD_HINTS = {
    "name": "Enter your name.",
    "email": "Enter an e-mail address, such as name@example.com.",
    "password": "Choose a password of at least 10 characters.",
    "new_password": "Choose a password of at least 10 characters.",
    "current_password": "Enter your current password.",
}
# Why an e-mailed link no longer works, and what to do instead: (status, title, explanation, next steps).
LINK_PROBLEMS = {
    "invite_unknown": (404, "This invitation link is not valid",
                       "The link may have been cut short by the e-mail program. Open it again from the e-mail, "
                       "or ask the admin who invited you for a new invitation.", ()),
    "invite_withdrawn": (410, "This invitation was withdrawn",
                         "The admin who sent it has withdrawn it. If you still need an account, ask them to "
                         "invite you again.", ()),
    "invite_used": (410, "This invitation has already been used",
                    "An account was made with it. Sign in with the password chosen then, or set a new one "
                    "if it is forgotten.", ("login", "reset")),
    "invite_expired": (410, "This invitation has expired",
                       "Invitations can be used for a few days only. Ask the admin who invited you to send a "
                       "new one.", ()),
    "reset_not_found": (404, "This link is not valid",
                        "The link may have been cut short by the e-mail program. Open it again from the "
                        "e-mail, or ask for a new link.", ("reset",)),
    "reset_used": (410, "This link has already been used",
                   "A password was set with it (or with a newer link). Sign in with it, or ask for a new link.",
                   ("login", "reset")),
    "reset_expired": (410, "This link has expired",
                      "Links to set a new password work for an hour. Ask for a new one.", ("reset",)),
}


def register(bp) -> None:
    bp.add_url_rule("/invite", "invite", invite, methods=["GET", "POST"])
    bp.add_url_rule("/reset-password", "reset_password", reset_password, methods=["GET", "POST"])
    bp.add_url_rule("/account", "account", account)
    bp.add_url_rule("/account/password", "change_password", change_password, methods=["POST"])
    bp.add_url_rule("/account/sign-out-everywhere", "sign_out_everywhere", sign_out_everywhere,
                    methods=["POST"])


def _link_problem(code: str):
    status, title, message, links = LINK_PROBLEMS[code]
    return render_template("web/link_problem.html", title=title, message=message, links=links), status


def _field_errors(err: ValidationError) -> dict[str, str]:
    """One plain sentence per field the form got wrong."""
    messages = err.messages if isinstance(err.messages, dict) else {}
    return {name: FIELD_HINTS.get(name, "Check this field.") for name in messages}


def _form_data(schema, *fields: str):
    """The form's fields loaded with the API's schema; (body, {}) or (None, field errors)."""
    data = {name: request.form.get(name, "") for name in fields}
    try:
        return schema(unknown=EXCLUDE).load(data), {}
    except ValidationError as err:
        return None, _field_errors(err)


# --- an invitation ----------------------------------------------------------

def invite():
    """The e-mailed invitation: choose a name and password; managers and
    admins are signed in here, reps are sent to the phone app."""
    token = request.values.get("token", "")
    state, found = invites.invite_state(db.session, token, now()) if token else ("unknown", None)
    if state != "open":
        return _link_problem(f"invite_{state}")
    organization = db.session.get(Organization, found.organization_id)
    page = {"token": token, "invite": found, "organization": organization}
    if request.method == "GET":
        return render_template("web/invite.html", name="", errors={}, **page)
    body, errors = _form_data(InviteAcceptSchema, "token", "name", "password")
    if errors:
        return render_template("web/invite.html", name=request.form.get("name", ""), errors=errors, **page), 422
    try:
        user, api_token = invites.accept_invite(db.session, now=now(), **body)
    except ServiceError as err:
        db.session.rollback()
        if err.code in ("invite_used", "invite_expired"):
            return _link_problem(err.code)
        return render_template("web/invite.html", name=body["name"], errors={"form": err.message}, **page), \
            err.status
    # Like the sign-in form: the browser holds the session, the bearer token is never handed out.
    revoke_token(db.session, hash_token(api_token), now())
    db.session.commit()
    if not is_reviewer(user.role):
        return render_template("web/invite_rep.html", user=user, organization=organization)
    session_auth.start_session(user, api_token)
    flash(f"Welcome to {organization.name}, {user.name}. You are signed in.", "ok")
    return redirect(url_for("web.review"))


# --- a forgotten password ---------------------------------------------------

def reset_password():
    """Without a token: ask for the address to e-mail a link to. With the
    e-mailed token: choose the new password."""
    token = request.values.get("token")
    if token is None:
        return _ask_for_link()
    try:
        password_reset.open_reset(db.session, token, now())
    except ServiceError as err:
        return _link_problem(err.code)
    if request.method == "GET":
        return render_template("web/reset_form.html", token=token, errors={})
    body, errors = _form_data(PasswordResetConfirmSchema, "token", "password")
    if errors:
        return render_template("web/reset_form.html", token=token, errors=errors), 422
    try:
        password_reset.confirm_reset(db.session, now=now(), **body)
    except ServiceError as err:
        db.session.rollback()
        return _link_problem(err.code)
    db.session.commit()
    session_auth.end_session()
    flash("Your password is set, and every session and phone of yours is signed out. Sign in with it.", "ok")
    return redirect(url_for("web.login"))


def _ask_for_link():
    if request.method == "GET":
        return render_template("web/reset_request.html", email="", errors={})
    email = request.form.get("email", "")
    body, errors = _form_data(PasswordResetRequestSchema, "email")
    if errors:
        return render_template("web/reset_request.html", email=email, errors=errors), 422
    try:
        deliver = password_reset_requested(body["email"])
    except ServiceError as err:
        db.session.rollback()
        return render_template("web/reset_request.html", email=email, errors={"form": err.message}), \
            err.status, err.headers
    db.session.commit()
    deliver()
    return render_template("web/reset_sent.html", message=password_reset.REQUESTED)


# --- the signed-in user's password and sessions -----------------------------

def account():
    """Your account: time zone and office hours, change the password, sign out everywhere."""
    return render_template("web/account.html", errors={}, **hours_form_context(g.web_user))


def change_password():
    """Change the password with the current one; this session stays, every other one ends."""
    user = g.web_user
    body, errors = _form_data(PasswordChangeSchema, "current_password", "new_password")
    if errors:
        return render_template("web/account.html", errors=errors, **hours_form_context(user)), 422
    try:
        check_password(db.session, user, body["current_password"], address=request.remote_addr or "unknown",
                       now=now(), limits=LoginLimits.from_config(current_app.config))
    except ServiceError as err:
        db.session.commit()  # keep the recorded failure, as the sign-in form does
        field = "current_password" if err.code == "wrong_password" else "form"
        return (render_template("web/account.html", errors={field: err.message}, **hours_form_context(user)),
                err.status, err.headers)
    set_password(db.session, user, body["new_password"], now(), keep_token_id=session_auth.session_token_id())
    db.session.commit()
    session_auth.keep_session(user)
    flash("Your password is changed. Your other sessions and tokens are signed out; your phones stay signed in.",
          "ok")
    return redirect(url_for("web.account"))


def sign_out_everywhere():
    """End every session and token of the user, this one too, and sign out their phones."""
    end_sign_ins(db.session, g.web_user, now(), phones=True)
    db.session.commit()
    session_auth.end_session()
    flash("You are signed out everywhere: every browser, API token and phone of yours.", "ok")
    return redirect(url_for("web.login"))
