"""The signed-in user's own profile and password."""
from __future__ import annotations

from flask import Blueprint, current_app, request
from marshmallow import Schema, fields, validate

from mobile_sync.accounts import LoginLimits, check_password, update_profile
from mobile_sync.errors import ServiceError
from mobile_sync.sign_ins import set_password, token_id
from schemas.accounts import (
    OFFICE_HOURS, OWN_PHONE, OWN_PHONE_RESPONSES, PASSWORD_CHANGE_RESPONSES, MessageSchema, PasswordChangeSchema,
    TimeZone, UserSchema,
)
from schemas.settings import BusinessHoursSchema
from schemas.fields import NonEmptyText, Region, Text
from server.api.routing import after_commit, operation
from server.auth import USER
from server.clock import now
from server.extensions import db
from server.jobs import queue_user_reports_rebuild

bp = Blueprint("profile", __name__, url_prefix="/api/v1")


class ProfileUpdateSchema(Schema):
    name = NonEmptyText(200)
    region = Region(allow_none=True)
    phone = Text(allow_none=True, validate=validate.Length(max=64), metadata={"description": OWN_PHONE})
    timezone = TimeZone()
    office_hours = fields.Nested(BusinessHoursSchema, allow_none=True, metadata={"description": OFFICE_HOURS})


@operation(bp, "/me", "PATCH", auth=USER, body=ProfileUpdateSchema, response=UserSchema,
           responses=OWN_PHONE_RESPONSES)
def update_me(principal, body):
    """Change your own name, region (to read national numbers), work number, time zone or office hours."""
    user = update_profile(db.session, principal.user, body, now())
    organization_id, changed_id = user.organization_id, user.id
    after_commit(lambda: queue_user_reports_rebuild(organization_id, changed_id, body))  # the office-hours share
    return user


@operation(bp, "/me/password", "POST", auth=USER, body=PasswordChangeSchema, response=MessageSchema,
           responses=PASSWORD_CHANGE_RESPONSES)
def change_password(principal, body):
    """Change your password (the current one is asked); your other tokens and browser sessions end."""
    user = principal.user
    try:
        check_password(db.session, user, body["current_password"], address=request.remote_addr or "unknown",
                       now=now(), limits=LoginLimits.from_config(current_app.config))
    except ServiceError:
        db.session.commit()  # keep the recorded failure, as login does
        raise
    bearer = request.headers.get("Authorization", "").partition(" ")[2].strip()
    set_password(db.session, user, body["new_password"], now(), keep_token_id=token_id(db.session, bearer))
    return {"message": "Your password is changed; your other sessions are signed out."}
