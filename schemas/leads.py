"""Leads, review actions, notes and call-back tasks."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_dump, validate, validates_schema

from schemas.fields import Email, Id, Moment, NonEmptyText, Text
from mobile_sync.lead_details import lead_history
from mobile_sync.record_search import SORTS
from schemas.list_export import ListFormat
from schemas.lists import SORT_HELP, ListQuerySchema, SearchText

STATUSES = ["pending_review", "approved", "rejected", "merged"]
REASONS = ["personal", "spam", "not_a_lead"]
BULK_LIMIT = 500  # ids in one bulk action


class LeadSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.String(allow_none=True, metadata={"description": "E.164"})
    company = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    source = fields.String()
    status = fields.String()
    reject_reason = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    first_call_at = fields.AwareDateTime(allow_none=True)
    last_call_at = fields.AwareDateTime(allow_none=True)
    last_spoken_at = fields.AwareDateTime(allow_none=True)
    calls_count = fields.Integer()
    merged_into_type = fields.String(allow_none=True)
    merged_into_id = fields.Integer(allow_none=True)


class LeadListSchema(Schema):
    items = fields.List(fields.Nested(LeadSchema))
    next_page = fields.Integer(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "Leads per status under the same filters, the status aside."})


class LeadQuerySchema(ListQuerySchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    owner_id = Id()
    source = Text(validate=validate.Length(max=100))
    since = Moment()
    q = SearchText()
    sort = fields.String(validate=validate.OneOf(SORTS), metadata={"description": SORT_HELP})
    format = ListFormat()


class CallSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    started_at = fields.AwareDateTime()
    duration_s = fields.Integer()
    call_type = fields.Function(lambda c: {1: "incoming", 2: "outgoing", 3: "missed", 4: "voicemail",
                                           5: "rejected", 6: "blocked", 7: "answered_externally"}[c.call_type])
    number = fields.String(attribute="e164", allow_none=True)
    outcome = fields.String(allow_none=True)


class NoteSchema(Schema):
    id = fields.Integer()
    record_type = fields.String()
    record_id = fields.Integer()
    author_id = fields.Integer(allow_none=True)
    text = fields.String()
    created_at = fields.AwareDateTime()


class LeadEventSchema(Schema):
    action = fields.String(metadata={"description": "created, approved, rejected, merged, assigned or edited"})
    actor_id = fields.Integer(allow_none=True, metadata={"description": "The user who did it."})
    at = fields.AwareDateTime()
    detail = fields.Dict(allow_none=True, metadata={"description": (
        "created: {from: call|manual}; rejected: {reason}; merged: {into_type, into_id}; "
        "assigned: {from_user_id, to_user_id}; edited: {fields: [...]}; approved: null")})


class _WithHistory:
    def __init__(self, lead, history):
        self._lead, self.history = lead, history

    def __getattr__(self, name):
        return getattr(self._lead, name)


class LeadDetailSchema(LeadSchema):
    calls = fields.List(fields.Nested(CallSchema))
    notes = fields.List(fields.Nested(NoteSchema))
    history = fields.List(fields.Nested(LeadEventSchema),
                          metadata={"description": "Who did what to the lead and when, oldest first."})

    @pre_dump
    def _with_history(self, lead, **kwargs):
        return _WithHistory(lead, lead_history(lead))


class LeadCreateSchema(Schema):
    name = NonEmptyText(200, required=True)
    phone = Text(required=True, validate=validate.Length(min=1, max=64))
    company = Text(validate=validate.Length(max=200), allow_none=True)
    email = Email(allow_none=True)
    source = Text(validate=validate.Length(max=100), allow_none=True)
    note = Text(validate=validate.Length(max=5000), allow_none=True)


class LeadUpdateSchema(Schema):
    name = NonEmptyText(200)
    company = Text(validate=validate.Length(max=200), allow_none=True)
    email = Email(allow_none=True)
    source = Text(validate=validate.Length(min=1, max=100))


class RejectSchema(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(REASONS))


class MergeSchema(Schema):
    into_type = fields.String(required=True, validate=validate.OneOf(["contact", "lead"]))
    into_id = Id(required=True)


class AssignSchema(Schema):
    user_id = Id(required=True)


class BulkSchema(Schema):
    ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=BULK_LIMIT))
    action = fields.String(required=True, validate=validate.OneOf(["approve", "reject", "assign", "merge"]))
    reason = fields.String(validate=validate.OneOf(REASONS))
    user_id = Id()
    into_type = fields.String(validate=validate.OneOf(["contact", "lead"]))
    into_id = Id()

    @validates_schema
    def _needs(self, data, **kwargs):
        needed = {"reject": ["reason"], "assign": ["user_id"], "merge": ["into_type", "into_id"]}
        missing = [f for f in needed.get(data.get("action"), []) if f not in data]
        if missing:
            raise ValidationError({f: [f"Required for {data['action']}."] for f in missing})


class BulkResultSchema(Schema):
    results = fields.List(fields.Dict())


class NoteCreateSchema(Schema):
    text = NonEmptyText(5000, required=True)


class TaskSchema(Schema):
    id = fields.Integer()
    owner_id = fields.Integer(allow_none=True)
    record_type = fields.String()
    record_id = fields.Integer()
    number = fields.String(attribute="e164", allow_none=True)
    missed_at = fields.AwareDateTime()
    missed_count = fields.Integer()
    status = fields.String()
    closed_at = fields.AwareDateTime(allow_none=True)
    closed_reason = fields.String(allow_none=True)


class TaskListSchema(Schema):
    items = fields.List(fields.Nested(TaskSchema))
    next_page = fields.Integer(allow_none=True)


class TaskQuerySchema(ListQuerySchema):
    status = fields.String(validate=validate.OneOf(["open", "done"]))
