"""Ending the service, and the access audit."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import Moment, Text
from schemas.lists import ListQuerySchema


class CloseOrganizationSchema(Schema):
    confirm = Text(required=True, validate=validate.Length(min=1, max=200),
                   metadata={"description": "The organisation's exact name"})


class OrganizationStatusSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    plan = fields.String()
    trial_ends_at = fields.AwareDateTime(allow_none=True)
    closing_at = fields.AwareDateTime(allow_none=True, metadata={"description": "When all data will be deleted"})
    deletion_at = fields.AwareDateTime(allow_none=True)


class AuditQuerySchema(ListQuerySchema):
    since = Moment()


class AccessEventSchema(Schema):
    id = fields.Integer()
    actor_type = fields.String()
    actor_user_id = fields.Integer(allow_none=True)
    device_id = fields.Integer(allow_none=True)
    api_key_id = fields.Integer(allow_none=True)
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.Integer(allow_none=True)
    count = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()


class AuditListSchema(Schema):
    items = fields.List(fields.Nested(AccessEventSchema))
    next_page = fields.Integer(allow_none=True)
