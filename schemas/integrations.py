"""CRM connections (admin): the token and rules saved, the status shown, the
push log listed (no bodies)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from mobile_sync.store.crm_pushes import PUSHED_TYPES
from schemas.fields import Text
from schemas.lists import ListQuerySchema

PUSH_STATUSES = ("pending", "delivered", "failed", "cancelled")


class IntegrationRulesSchema(Schema):
    class Meta:
        unknown = RAISE

    call_types = fields.List(fields.String(validate=validate.OneOf(PUSHED_TYPES)),
                             validate=validate.Length(max=len(PUSHED_TYPES)),
                             metadata={"description": "Call types logged in the CRM: " + ", ".join(PUSHED_TYPES)
                                       + ". Empty: no calls."})
    min_duration_s = fields.Integer(validate=validate.Range(min=0, max=86_400), metadata={
        "description": "Calls shorter than this (seconds) are not logged"})
    push_leads = fields.Boolean(metadata={"description": "An approved lead becomes a CRM contact"})
    pull_every_h = fields.Integer(validate=validate.Range(min=0, max=168), metadata={
        "description": "Import the CRM's people every N hours; 0: only when asked"})


class IntegrationSaveSchema(IntegrationRulesSchema):
    token = Text(required=True, load_only=True, validate=validate.Length(min=8, max=500), metadata={
        "description": "The CRM's API token (HubSpot: a private app's access token; Pipedrive: a personal API "
                       "token). Checked with one request before it is saved; stored encrypted, never shown again"})


class IntegrationUpdateSchema(IntegrationRulesSchema):
    """The rules only; a new token is PUT."""


class IntegrationSchema(Schema):
    crm = fields.String(metadata={"description": "hubspot or pipedrive"})
    label = fields.String()
    connected = fields.Boolean(metadata={"description": "A token is saved"})
    status = fields.String(allow_none=True, metadata={
        "description": "connected, or auth_failed: the CRM refused the token and pushes wait for a new one"})
    token_hint = fields.String(allow_none=True, metadata={"description": "The token's last 4 characters"})
    call_types = fields.List(fields.String())
    min_duration_s = fields.Integer(allow_none=True)
    push_leads = fields.Boolean(allow_none=True)
    pull_every_h = fields.Integer(allow_none=True)
    auth_failed_at = fields.AwareDateTime(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={
        "description": "auth_failed, rate_limited, unavailable, refused, import_failed"})
    last_status_code = fields.Integer(allow_none=True)
    paused_until = fields.AwareDateTime(allow_none=True, metadata={
        "description": "The CRM asked to wait (429): no push before then"})
    last_pulled_at = fields.AwareDateTime(allow_none=True)
    last_pull_count = fields.Integer(allow_none=True, metadata={
        "description": "People the last finished pull read from the CRM (all its pages)"})
    last_pull_removed = fields.Integer(allow_none=True, metadata={
        "description": "Contacts the last finished pull deleted because the CRM deleted their person "
                       "(a contact someone here wrote on is kept; it loses the CRM's numbers only)"})
    pull_running = fields.Boolean()
    pushes = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Push items by status: pending, delivered, failed, cancelled"})


class IntegrationListSchema(Schema):
    items = fields.List(fields.Nested(IntegrationSchema))


class IntegrationPullSchema(Schema):
    status = fields.String(metadata={"description": "queued"})


class PushListQuerySchema(ListQuerySchema):
    status = fields.String(validate=validate.OneOf(PUSH_STATUSES))


class PushSchema(Schema):
    id = fields.Integer()
    subject_type = fields.String(metadata={"description": "call or lead"})
    subject_id = fields.Integer(metadata={"description": "The call's or the lead's id"})
    status = fields.String(metadata={"description": "pending, delivered, failed or cancelled"})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={
        "description": "rate_limited, auth_failed, unavailable, refused; cancelled: erased, withdrawn, deleted"})
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    external_id = fields.String(allow_none=True, metadata={"description": "The CRM's id of what was logged"})
    created_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime(allow_none=True)


class PushListSchema(Schema):
    items = fields.List(fields.Nested(PushSchema))
    next_page = fields.Integer(allow_none=True)
