"""A user's private numbers: calls with them never reach a record."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import Text


class PrivateNumberCreateSchema(Schema):
    number = Text(required=True, validate=validate.Length(min=1, max=64), metadata={
        "description": "Any form of the number (national, international); stored as a keyed hash only"})


class PrivateNumberSchema(Schema):
    id = fields.Integer()
    created_at = fields.AwareDateTime()
    number_hint = fields.String(attribute="hint", metadata={
        "description": "Its last two digits, e.g. \u202610: the number itself is not kept"})


class PrivateNumberListSchema(Schema):
    items = fields.List(fields.Nested(PrivateNumberSchema))
    next_page = fields.Integer(allow_none=True)
