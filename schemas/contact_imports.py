"""A background contact import (`GET /api/v1/contacts/imports/{id}`): the
run the import page started, its progress and outcome."""
from __future__ import annotations

from marshmallow import Schema, fields

from schemas.contacts import ImportErrorSchema


class ContactImportRunSchema(Schema):
    id = fields.Integer()
    state = fields.String(metadata={"description": "queued, running, done or failed."})
    filename = fields.String()
    format = fields.String(allow_none=True, metadata={"description": "Detected from the content, once read."})
    bytes_total = fields.Integer(metadata={"description": "The file's size."})
    bytes_read = fields.Integer(metadata={"description": "Of the file, read so far: the progress."})
    imported = fields.Integer()
    merged = fields.Integer(metadata={"description": "Lines that are contacts already: not created twice."})
    failed = fields.Integer()
    errors = fields.List(fields.Nested(ImportErrorSchema),
                         metadata={"description": "The first 20 failed lines, when done."})
    message = fields.String(allow_none=True, metadata={"description": "Why a failed import stopped."})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class ContactImportListSchema(Schema):
    items = fields.List(fields.Nested(ContactImportRunSchema))
    next_page = fields.Integer(allow_none=True)
