"""The signed-in user's own profile."""
from __future__ import annotations

from flask import Blueprint
from marshmallow import Schema, validate

from mobile_sync.accounts import update_profile
from schemas.accounts import OWN_PHONE, OWN_PHONE_RESPONSES, UserSchema
from schemas.fields import NonEmptyText, Region, Text
from server.api.routing import operation
from server.auth import USER
from server.clock import now
from server.extensions import db

bp = Blueprint("profile", __name__, url_prefix="/api/v1")


class ProfileUpdateSchema(Schema):
    name = NonEmptyText(200)
    region = Region(allow_none=True)
    phone = Text(allow_none=True, validate=validate.Length(max=64), metadata={"description": OWN_PHONE})


@operation(bp, "/me", "PATCH", auth=USER, body=ProfileUpdateSchema, response=UserSchema,
           responses=OWN_PHONE_RESPONSES)
def update_me(principal, body):
    """Change your own name, region (to read national numbers) or work number."""
    return update_profile(db.session, principal.user, body, now())
