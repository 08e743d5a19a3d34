"""Export and erasure."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.fields import Id, Text

ERASABLE_RECORD_TYPES = ["contact", "lead"]


class ErasureSchema(Schema):
    """Erase a person: by phone number, or by one of their records."""

    phone = Text(validate=validate.Length(min=1, max=64),
                 metadata={"description": "the number as typed; read with the organisation's region"})
    record_type = fields.String(validate=validate.OneOf(ERASABLE_RECORD_TYPES))
    record_id = Id()

    @validates_schema
    def _one_target(self, data, **kwargs):
        by_phone = "phone" in data
        by_record = "record_type" in data or "record_id" in data
        if by_phone and by_record:
            raise ValidationError("Give either phone, or record_type and record_id, not both.")
        if not by_phone and not by_record:
            raise ValidationError("Give phone, or record_type and record_id.")
        if by_record:
            missing = {name: ["Required with the other record field."]
                       for name in ("record_type", "record_id") if name not in data}
            if missing:
                raise ValidationError(missing)


class ErasureQuerySchema(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": (
        "Answer what the erasure would delete (records, numbers, calls, notes, tasks, index rows: "
        "`deleted` has contacts, leads, calls, notes, tasks and record_phones), deleting nothing. The same "
        "rule selects what a dry run counts and what an erasure deletes.")})


class ErasureResultSchema(Schema):
    deleted = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "rows deleted, per table"})
    redacted = fields.Dict(keys=fields.String(), values=fields.Integer(),
                           metadata={"description": "rows kept with the number removed from them, per table"})
    numbers_erased = fields.Integer(metadata={"description": "numbers now kept only as a salted hash "
                                                             "(a dry run: that would be)"})
    dry_run = fields.Boolean(metadata={"description": "true: a preview; nothing was deleted"})


EXPORT_RESPONSES = {
    "200": {
        "description": "The organisation's complete data: a zip with `jsonl/<table>.jsonl`, `csv/<table>.csv` "
                       "and `manifest.json` (row counts, SHA-256 of every file, the columns left out as secrets).",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    },
}
