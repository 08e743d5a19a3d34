"""Sign-up, login, users, invites and API keys."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import ROLE, Email, NonEmptyText, Region, Text

PASSWORD = Text(required=True, load_only=True, validate=validate.Length(min=10, max=256))


class SignupSchema(Schema):
    organization = NonEmptyText(200, required=True)
    region = Region(required=True)
    name = NonEmptyText(200, required=True)
    email = Email(required=True)
    password = PASSWORD


class SignupResultSchema(Schema):
    organization_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    token = fields.String(required=True)


class LoginSchema(Schema):
    email = Email(required=True)
    password = Text(required=True, load_only=True, validate=validate.Length(min=1, max=256))


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    email = fields.String()
    role = fields.String()
    organization_id = fields.Integer()
    region = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class LoginResultSchema(Schema):
    token = fields.String(required=True)
    user = fields.Nested(UserSchema, required=True)


class UserUpdateSchema(Schema):
    """What an admin may change of a teammate."""

    role = fields.String(validate=validate.OneOf(["admin", "manager", "rep"]))
    name = NonEmptyText(200)
    region = Region(allow_none=True)
    phone = Text(allow_none=True, validate=validate.Length(max=64),
                 metadata={"description": "The teammate's own work number; calls from it never become leads"})
    disabled = fields.Boolean()


class InviteCreateSchema(Schema):
    email = Email(required=True)
    role = ROLE


class InviteCreatedSchema(Schema):
    invite_id = fields.Integer(required=True)
    expires_at = fields.AwareDateTime(required=True)
    delivery = fields.String(metadata={"description": "sent, written to outbox, or failed"})


class InviteAcceptSchema(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=200))
    name = NonEmptyText(200, required=True)
    password = PASSWORD


class InviteAcceptedSchema(Schema):
    user_id = fields.Integer(required=True)
    token = fields.String(required=True)


class ApiKeyCreateSchema(Schema):
    name = NonEmptyText(100, required=True)


class ApiKeySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    created_at = fields.AwareDateTime()
    key = fields.String(metadata={"description": "Shown once, at creation"})
