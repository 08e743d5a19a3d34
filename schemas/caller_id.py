"""Caller ID, ringing and the on-device directory."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from schemas.fields import MAX_ID, Text
from schemas.lists import ListQuerySchema


class CallerIdQuerySchema(Schema):
    number = Text(required=True, validate=validate.Length(min=1, max=64))


class CallerCardSchema(Schema):
    record_type = fields.String(metadata={"description": "contact, lead, user (a colleague), phone_contact, shared"})
    record_id = fields.Integer(allow_none=True)
    name = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    owner = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    source = fields.String(allow_none=True)
    last_spoken_at = fields.AwareDateTime(allow_none=True)
    last_call_type = fields.String(allow_none=True)
    last_note = fields.String(allow_none=True)
    lead_status = fields.String(allow_none=True)
    grade = fields.String(metadata={"description": "exact, national or suffix"})


class CallerIdSchema(Schema):
    number = fields.String(allow_none=True, metadata={"description": "E.164, or null when not a matchable number"})
    number_status = fields.String()
    match = fields.Nested(CallerCardSchema, allow_none=True)
    candidates = fields.List(fields.Nested(CallerCardSchema))


class RingingSchema(Schema):
    number = Text(required=True, validate=validate.Length(min=1, max=64))


class TelephonyRingingSchema(Schema):
    from_ = Text(required=True, data_key="from", validate=validate.Length(min=1, max=64))
    to = Text(required=True, validate=validate.Length(min=1, max=64))


class PushAcceptedSchema(Schema):
    push_id = fields.String(allow_none=True)
    devices = fields.Integer()


def _within_ids(cursor: str) -> None:
    """A cursor is a change id: beyond PostgreSQL's integer it could only fail in the database."""
    digits = cursor.lstrip("r")
    if digits.isascii() and digits.isdigit() and int(digits) > MAX_ID:
        raise ValidationError("Not a directory cursor.")


class DirectoryQuerySchema(Schema):
    cursor = Text(load_default="0", validate=[validate.Regexp(r"^r?\d{1,10}$", error="Not a directory cursor."),
                                              _within_ids],
                  metadata={"description": "The cursor of the previous answer; 0 (or absent) for everything"})


class DirectoryCardSchema(Schema):
    number = fields.String()
    name = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    owner = fields.String(allow_none=True)
    record_type = fields.String()
    record_id = fields.Integer(allow_none=True)


class DirectorySchema(Schema):
    cards = fields.List(fields.Nested(DirectoryCardSchema))
    removed = fields.List(fields.String())
    cursor = fields.String()
    has_more = fields.Boolean()
    reset = fields.Boolean(metadata={"description": "Drop the cached directory before applying these cards"})


class PushRecordSchema(Schema):
    id = fields.Integer()
    push_id = fields.String()
    device_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    kind = fields.String()
    collapse_key = fields.String()
    ttl_s = fields.Integer()
    data = fields.Dict(allow_none=True)
    status = fields.String()
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)


class PushListQuerySchema(ListQuerySchema):
    """Recorded pushes, newest first."""


class PushListSchema(Schema):
    items = fields.List(fields.Nested(PushRecordSchema))
    next_page = fields.Integer(allow_none=True)
