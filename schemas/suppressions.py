"""The suppression list (admin): numbers rejected as spam or personal."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.lists import ListQuerySchema


class SuppressionListQuerySchema(ListQuerySchema):
    """`limit` and `page` only."""


class SuppressionSchema(Schema):
    id = fields.Integer()
    reason = fields.String(validate=validate.OneOf(["spam", "personal"]),
                           metadata={"description": "spam: skipped for the whole organisation; personal: for "
                                                    "`user_id` only"})
    user_id = fields.Integer(allow_none=True, metadata={"description": "The rep of a personal rejection"})
    user_name = fields.String(allow_none=True)
    lead_id = fields.Integer(allow_none=True, metadata={"description": "The rejected lead, while it exists"})
    lead_name = fields.String(allow_none=True, metadata={"description": "The rejected lead's name, while it exists"})
    number = fields.String(allow_none=True, metadata={
        "description": "E.164, while the rejected lead exists and still has the number; only a keyed hash of "
                       "the number is stored"})
    created_at = fields.AwareDateTime()


class SuppressionListSchema(Schema):
    items = fields.List(fields.Nested(SuppressionSchema))
    next_page = fields.Integer(allow_none=True)
