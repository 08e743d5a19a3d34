"""Sign-up, login, password resets, signing out everywhere, teammates, invites and API keys."""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, current_app, request

from mobile_sync import accounts, invites, password_reset, team
from mobile_sync.accounts import LoginLimits
from mobile_sync.errors import ServiceError
from mobile_sync.roles import ADMINS, REVIEWERS
from mobile_sync.sign_ins import end_sign_ins
from schemas.accounts import (
    INVITE_RESPONSES, LOGIN_RESPONSES, OWN_PHONE_RESPONSES, RESET_CONFIRM_RESPONSES, RESET_RESPONSES,
    SIGNUP_RESPONSES, ApiKeyCreateSchema, ApiKeyListQuerySchema, ApiKeyListSchema, ApiKeySchema,
    InviteAcceptedSchema, InviteAcceptSchema, InviteCreatedSchema, InviteCreateSchema, InviteListQuerySchema,
    InviteListSchema, LoginResultSchema, LoginSchema, MessageSchema, PasswordResetConfirmSchema,
    PasswordResetRequestSchema, SignupResultSchema, SignupSchema, UserListQuerySchema, UserListSchema, UserSchema,
    UserUpdateSchema,
)
from server.api.routing import after_commit, operation
from server.auth import PUBLIC, USER
from server.clock import now
from server.extensions import db
from server.jobs import queue_user_reports_rebuild
from server.mail import send_email, send_email_soon

bp = Blueprint("accounts", __name__, url_prefix="/api/v1")


@operation(bp, "/signup", "POST", auth=PUBLIC, body=SignupSchema, response=SignupResultSchema, status=201,
           responses=SIGNUP_RESPONSES)
def signup(principal, body):
    """Create an organisation and its first user (an admin)."""
    try:
        org, user, token = accounts.signup(db.session, now=now(), trial_days=current_app.config["TRIAL_DAYS"],
                                           address=request.remote_addr or "unknown",
                                           limits=LoginLimits.from_config(current_app.config), **body)
    except ServiceError:
        db.session.commit()  # keep the recorded attempt (signup leaves nothing else behind)
        raise
    return {"organization_id": org.id, "user_id": user.id, "token": token}


@operation(bp, "/auth/login", "POST", auth=PUBLIC, body=LoginSchema, response=LoginResultSchema,
           responses=LOGIN_RESPONSES)
def login(principal, body):
    """Exchange e-mail and password for a user token; failures are throttled."""
    limits = LoginLimits.from_config(current_app.config)
    try:
        user, token = accounts.login(db.session, email=body["email"], password=body["password"],
                                     address=request.remote_addr or "unknown", now=now(), limits=limits)
    except ServiceError:
        db.session.commit()  # keep the recorded failure
        raise
    return {"token": token, "user": user}


def password_reset_requested(email: str) -> Callable[[], None]:
    """Count a request for a password link, make one if the address has an
    account, and return its delivery, to run after the commit (API and page
    alike). The e-mail goes from a background thread, so the answer never
    waits for SMTP and takes as long for any address."""
    cfg = current_app.config
    link = password_reset.request_reset(db.session, email=email, address=request.remote_addr or "unknown",
                                        now=now(), limits=LoginLimits.from_config(cfg))
    if link is None:
        return lambda: None
    subject, text = password_reset.render_reset_email(
        name=link.user.name, link=f"{cfg['PUBLIC_BASE_URL'].rstrip('/')}/reset-password?token={link.token}",
        expires_at=link.expires_at)
    return lambda: send_email_soon(cfg, to=link.user.email, subject=subject, body=text, purpose="password reset")


@operation(bp, "/auth/password-reset", "POST", auth=PUBLIC, body=PasswordResetRequestSchema,
           response=MessageSchema, status=202, responses=RESET_RESPONSES)
def reset_password(principal, body):
    """E-mail a one-time link to set a new password; the same answer for any address."""
    after_commit(password_reset_requested(body["email"]))
    return {"message": password_reset.REQUESTED}


@operation(bp, "/auth/password-reset/confirm", "POST", auth=PUBLIC, body=PasswordResetConfirmSchema,
           response=MessageSchema, responses=RESET_CONFIRM_RESPONSES)
def confirm_password_reset(principal, body):
    """Set a new password with the e-mailed token, once; every sign-in and phone of the user is signed out."""
    password_reset.confirm_reset(db.session, token=body["token"], password=body["password"], now=now())
    return {"message": "Your password is set. Sign in with it."}


@operation(bp, "/auth/logout-everywhere", "POST", auth=USER, response=MessageSchema)
def logout_everywhere(principal):
    """End every token and browser session of the signed-in user, this one included, and sign out their phones."""
    end_sign_ins(db.session, principal.user, now(), phones=True)
    return {"message": "You are signed out everywhere."}


@operation(bp, "/me", "GET", auth=USER, response=UserSchema)
def me(principal):
    """The signed-in user, with their time zone and office hours."""
    return principal.user


@operation(bp, "/users", "GET", auth=USER, roles=REVIEWERS, query=UserListQuerySchema, response=UserListSchema)
def list_users(principal, args):
    """Teammates of the organisation in the order they joined, with when each was last active."""
    items, next_page = accounts.users_page(db.session, principal.organization_id, **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/users/<int:user_id>", "GET", auth=USER, roles=REVIEWERS, response=UserSchema)
def get_user(principal, user_id):
    """One teammate, with when they were last active."""
    return accounts.get_teammate(db.session, user_id)


@operation(bp, "/users/<int:user_id>", "PATCH", auth=USER, roles=ADMINS, body=UserUpdateSchema,
           response=UserSchema, responses=OWN_PHONE_RESPONSES)
def update_user(principal, body, user_id):
    """Change a teammate's role, name, region, time zone or office hours, or disable the account."""
    user = accounts.update_user(db.session, principal.user, user_id, body, now())
    organization_id, changed_id = user.organization_id, user.id
    after_commit(lambda: queue_user_reports_rebuild(organization_id, changed_id, body))  # the office-hours share
    return user


@operation(bp, "/invites", "GET", auth=USER, roles=ADMINS, query=InviteListQuerySchema, response=InviteListSchema)
def list_invites(principal, args):
    """Pending invites (not accepted, withdrawn or expired), oldest first."""
    items, next_page = team.pending_invites_page(db.session, principal.organization_id, now(), **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/invites", "POST", auth=USER, roles=ADMINS, body=InviteCreateSchema,
           response=InviteCreatedSchema, status=201, responses=INVITE_RESPONSES)
def create_invite(principal, body):
    """Invite a teammate; a one-time link is e-mailed."""
    cfg = current_app.config
    invite, token, has_account = invites.create_invite(db.session, inviter=principal.user, email=body["email"],
                                                       role=body["role"], now=now(),
                                                       ttl_hours=cfg["INVITE_TTL_HOURS"])
    subject, text = invites.render_invite_email(
        organization_name=principal.user.organization.name, inviter_name=principal.user.name,
        link=f"{cfg['PUBLIC_BASE_URL'].rstrip('/')}/invite?token={token}", expires_at=invite.expires_at,
        address_has_account=has_account)
    result = {"invite_id": invite.id, "expires_at": invite.expires_at, "delivery": "pending"}

    def deliver():
        result["delivery"] = send_email(cfg, to=body["email"], subject=subject, body=text, purpose="invite")
        invite.delivery = result["delivery"]
        db.session.commit()

    after_commit(deliver)
    return result


@operation(bp, "/invites/<int:invite_id>", "DELETE", auth=USER, roles=ADMINS, status=204)
def withdraw_invite(principal, invite_id):
    """Withdraw an invite and forget the invited address."""
    invites.withdraw_invite(db.session, invite_id, now())


@operation(bp, "/invites/accept", "POST", auth=PUBLIC, body=InviteAcceptSchema, response=InviteAcceptedSchema,
           status=201)
def accept_invite(principal, body):
    """Accept an invite with the e-mailed token; works once."""
    user, token = invites.accept_invite(db.session, now=now(), **body)
    return {"user_id": user.id, "token": token}


@operation(bp, "/api-keys", "GET", auth=USER, roles=ADMINS, query=ApiKeyListQuerySchema, response=ApiKeyListSchema)
def list_api_keys(principal, args):
    """The organisation's active integration keys (without the keys), oldest first."""
    items, next_page = accounts.api_keys_page(db.session, principal.organization_id, **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/api-keys", "POST", auth=USER, roles=ADMINS, body=ApiKeyCreateSchema, response=ApiKeySchema,
           status=201, audit=lambda result, _: ("api_key.create", "api_key", result["id"], None))
def create_api_key(principal, body):
    """Create an integration key for a PBX or call-tracking webhook; shown once."""
    key, clear = accounts.create_api_key(db.session, organization_id=principal.organization_id,
                                         created_by=principal.user_id, name=body["name"])
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "created_at": key.created_at, "key": clear}


@operation(bp, "/api-keys/<int:key_id>", "DELETE", auth=USER, roles=ADMINS, status=204, audit="api_key.revoke")
def revoke_api_key(principal, key_id):
    """Revoke an integration key."""
    accounts.revoke_api_key(db.session, key_id, now())
