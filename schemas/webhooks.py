"""Webhook endpoints (admin), their deliveries, and the events' bodies as
receivers get them (documented in the OpenAPI document's webhooks section)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from mobile_sync.webhooks.event_types import EVENT_TYPES, TEST_EVENT
from schemas.fields import Text
from schemas.lists import ListQuerySchema

_URL = Text(validate=[validate.Length(min=1, max=2000), validate.URL(schemes={"http", "https"}, require_tld=False)],
            metadata={"description": "http(s) URL; one resolving to a private, loopback or link-local address "
                                     "is refused"})
_EVENTS = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), validate=validate.Length(min=1, max=20),
                      metadata={"description": "Event types sent to it: " + ", ".join(EVENT_TYPES)})


class WebhookCreateSchema(Schema):
    url = _URL
    events = _EVENTS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("url", "events"):
            self.fields[name].required = True


class WebhookUpdateSchema(Schema):
    url = _URL
    events = _EVENTS
    active = fields.Boolean()


class WebhookCreatedSchema(Schema):
    id = fields.Integer(required=True)
    secret = fields.String(required=True, metadata={"description": "whsec_…: shown this once"})


class WebhookSecretSchema(Schema):
    secret = fields.String(required=True, metadata={
        "description": "The new whsec_ secret, shown this once; the previous one keeps signing for 24 h"})


class WebhookEndpointSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True, metadata={
        "description": "gone: the receiver answered 410; failing: deliveries failed for 3 days"})
    rotating_until = fields.AwareDateTime(attribute="previous_secret_until", allow_none=True,
                                          metadata={"description": "Until then the previous secret signs too"})
    created_at = fields.AwareDateTime()


class WebhookListQuerySchema(ListQuerySchema):
    """`limit` and `page` only."""


class WebhookListSchema(Schema):
    items = fields.List(fields.Nested(WebhookEndpointSchema))
    next_page = fields.Integer(allow_none=True)


class WebhookDeliverySchema(Schema):
    id = fields.Integer()
    message_id = fields.String(metadata={"description": "The webhook-id header; the same on every retry"})
    type = fields.String()
    status = fields.String(metadata={"description": "pending, delivered, failed or cancelled"})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={"description": "timeout, connection_refused, ..."})
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class WebhookDeliveryListSchema(Schema):
    items = fields.List(fields.Nested(WebhookDeliverySchema))
    next_page = fields.Integer(allow_none=True)


class WebhookTestSchema(Schema):
    delivery_id = fields.Integer(required=True)


# ------------------------------------------------------------ event bodies


class LeadData(Schema):
    id = fields.Integer(required=True)
    status = fields.String(metadata={"description": "pending_review, approved, rejected, merged"})
    name = fields.String()
    phone = fields.String(allow_none=True, metadata={"description": "E.164; absent once the number is erased"})
    company = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    source = fields.String()
    created_at = fields.String()
    reject_reason = fields.String(allow_none=True)
    merged_into = fields.Dict(metadata={"description": "{type, id} of the record it was merged into"})


class CallData(Schema):
    id = fields.Integer()
    number = fields.String(allow_none=True, metadata={"description": "E.164"})
    type = fields.String(metadata={"description": "incoming, outgoing, missed, ..."})
    started_at = fields.String()
    duration_s = fields.Integer()
    user_id = fields.Integer()
    device_id = fields.Integer()
    record_type = fields.String(allow_none=True)
    record_id = fields.Integer(allow_none=True)


class CallLoggedData(Schema):
    upload_id = fields.Integer(required=True)
    calls = fields.List(fields.Nested(CallData))


class ContactData(Schema):
    id = fields.Integer(required=True)
    name = fields.String()
    company = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    phones = fields.List(fields.String(), metadata={"description": "E.164 numbers"})
    updated_at = fields.String()


class DeletedData(Schema):
    id = fields.Integer(required=True)


class TaskData(Schema):
    id = fields.Integer(required=True)
    status = fields.String()
    owner_id = fields.Integer(allow_none=True)
    record_type = fields.String()
    record_id = fields.Integer()
    call_id = fields.Integer(allow_none=True)
    number = fields.String(allow_none=True)
    missed_at = fields.String()
    missed_count = fields.Integer()
    closed_at = fields.String(allow_none=True)


class ErasureData(Schema):
    """Counts only: what was erased is not said."""

    calls = fields.Integer()
    leads = fields.Integer()
    contacts = fields.Integer()
    tasks = fields.Integer()


EVENT_DATA = {
    "lead.created": LeadData, "lead.approved": LeadData, "lead.rejected": LeadData, "lead.merged": LeadData,
    "lead.assigned": LeadData, "call.logged": CallLoggedData,
    "contact.created": ContactData, "contact.updated": ContactData, "contact.deleted": DeletedData,
    "task.created": TaskData, "task.completed": TaskData, "erasure.completed": ErasureData,
}
assert set(EVENT_DATA) == set(EVENT_TYPES) and TEST_EVENT not in EVENT_DATA


def webhooks_section(spec) -> dict:
    """OpenAPI `webhooks` (3.1; `x-webhooks` in a 3.0 document): one POST per
    event type, its body `{type, timestamp, data}`. Registers the data schemas on `spec`."""
    section = {}
    headers = {name: {"required": True, "schema": {"type": "string"}, "description": text} for name, text in (
        ("webhook-id", "The delivery's id; the same on every retry: deduplicate on it"),
        ("webhook-timestamp", "Seconds since the epoch, when this attempt was signed"),
        ("webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body>; two, space-separated, "
                              "while a rotated secret's 24 hours run"))}
    for type_, schema in EVENT_DATA.items():
        name = schema.__name__
        if name not in spec.components.schemas:
            spec.components.schema(name, schema=schema)
        section[type_] = {"post": {
            "summary": f"{type_} event",
            "parameters": [{"in": "header", "name": n, **h} for n, h in headers.items()],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["type", "timestamp", "data"],
                "properties": {"type": {"type": "string", "enum": [type_]},
                               "timestamp": {"type": "string", "format": "date-time"},
                               "data": {"$ref": f"#/components/schemas/{name}"}}}}}},
            "responses": {"2XX": {"description": "Received; any other answer is retried (410 disables the "
                                                 "endpoint)"}}}}
    return section
