"""Devices, consent and the disclosure policy."""
from __future__ import annotations

import base64
import binascii

from marshmallow import Schema, ValidationError, fields, validate, validates

from mobile_sync.push_payloads import can_seal_to
from schemas.fields import Id, Text
from schemas.lists import ListQuerySchema


def _check_public_key(value: str | None) -> None:
    if value is None:
        return
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("Must be a base64 X25519 public key (32 bytes).")
    if len(raw) != 32:
        raise ValidationError("Must be a base64 X25519 public key (32 bytes).")
    if not can_seal_to(raw):
        raise ValidationError("This key cannot receive sealed pushes (a low-order or invalid X25519 point).")


class DeviceCreateSchema(Schema):
    platform = fields.String(required=True, validate=validate.OneOf(["android"]))
    model = Text(validate=validate.Length(max=100), allow_none=True)
    os_version = Text(validate=validate.Length(max=32), allow_none=True)
    app_version = Text(validate=validate.Length(max=32), allow_none=True)
    fcm_token = Text(validate=validate.Length(min=1, max=4096), allow_none=True)
    fcm_fid = Text(validate=validate.Length(min=1, max=255), allow_none=True)
    push_public_key = Text(allow_none=True, validate=validate.Length(max=64))

    @validates("push_public_key")
    def _public_key(self, value, **kwargs):
        _check_public_key(value)


class DeviceCreatedSchema(Schema):
    device_id = fields.Integer(required=True)
    device_token = fields.String(required=True)


class DeviceUpdateSchema(Schema):
    fcm_token = Text(validate=validate.Length(min=1, max=4096), allow_none=True)
    fcm_fid = Text(validate=validate.Length(min=1, max=255), allow_none=True)
    push_public_key = Text(allow_none=True, validate=validate.Length(max=64))
    app_version = Text(validate=validate.Length(max=32), allow_none=True)
    os_version = Text(validate=validate.Length(max=32), allow_none=True)

    @validates("push_public_key")
    def _public_key(self, value, **kwargs):
        _check_public_key(value)


class DeviceSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    platform = fields.String()
    model = fields.String(allow_none=True)
    os_version = fields.String(allow_none=True)
    app_version = fields.String(allow_none=True)
    has_fcm_token = fields.Function(lambda d: bool(d.fcm_token))
    has_fcm_fid = fields.Function(lambda d: bool(d.fcm_fid))
    has_push_public_key = fields.Function(lambda d: bool(d.push_public_key))
    created_at = fields.AwareDateTime()


class ConsentUpdateSchema(Schema):
    contacts = fields.Boolean(required=True)
    call_log = fields.Boolean(required=True)
    policy_version = Text(required=True, validate=validate.Length(min=1, max=32))


class ScopeStateSchema(Schema):
    granted = fields.Boolean()
    policy_version = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)


class ConsentStateSchema(Schema):
    device_id = fields.Integer()
    contacts = fields.Nested(ScopeStateSchema)
    call_log = fields.Nested(ScopeStateSchema)


class PolicySchema(Schema):
    version = fields.String(required=True)
    text = fields.String(required=True)


class DeviceListQuerySchema(ListQuerySchema):
    user_id = Id(metadata={"description": "Only this user's phones (a rep sees only their own in any case)."})


class DeviceConsentSchema(Schema):
    contacts = fields.Boolean()
    call_log = fields.Boolean()
    policy_version = fields.String(allow_none=True, metadata={"description": "The policy last agreed to"})


MAX_TRACKED_ACCOUNTS = 10


class TrackingSchema(Schema):
    phone_account_ids = fields.List(
        Text(validate=validate.Length(min=1, max=128)), load_default=list,
        validate=validate.Length(max=MAX_TRACKED_ACCOUNTS),
        metadata={"description": "Android PHONE_ACCOUNT_IDs (the call rows' `subscription_id`) whose calls are "
                                 "kept; empty or absent: every account's. At most 10, each at most 128 characters."})


class TrackingStateSchema(Schema):
    device_id = fields.Integer()
    phone_account_ids = fields.List(fields.String())


class PermissionsSchema(Schema):
    call_log = fields.Boolean(required=True)
    contacts = fields.Boolean(required=True)
    notifications = fields.Boolean(required=True)


class DeviceHealthSchema(Schema):
    """The app's own state (unknown fields are refused: API.md names none to ignore)."""

    battery_optimized = fields.Boolean(required=True, metadata={
        "description": "Android battery optimisation is on for the app (it may be killed in the background)"})
    autostart = fields.Boolean(required=True, metadata={
        "description": "The OEM's autostart permission (Xiaomi, Huawei, Oppo, Vivo) is granted"})
    permissions = fields.Nested(PermissionsSchema, required=True)
    app_version = Text(required=True, validate=validate.Length(min=1, max=32))


class DeviceListItemSchema(Schema):
    device_id = fields.Integer()
    user_id = fields.Integer()
    model = fields.String(allow_none=True)
    app_version = fields.String(allow_none=True)
    consent = fields.Nested(DeviceConsentSchema)
    last_upload_at = fields.AwareDateTime(allow_none=True, metadata={"description": "The phone's latest upload"})
    last_seen_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "The latest time the phone wrote to the service: registration, "
                                                  "token rotation, consent or an upload"})
    push = fields.String(allow_none=True, validate=validate.OneOf(["token", "fid"]),
                         metadata={"description": "How pushes reach it: an FCM registration token, a Firebase "
                                                  "installation ID, or null (none)"})
    sealed = fields.Boolean(metadata={"description": "Pushes carry personal data sealed for this device alone"})
    health = fields.Nested(DeviceHealthSchema, allow_none=True,
                           metadata={"description": "What the app last reported of its health; null until it reports"})
    health_reported_at = fields.AwareDateTime(allow_none=True, metadata={"description": "When it last reported"})
    phone_account_ids = fields.List(fields.String(), metadata={
        "description": "Work SIM only: the phone accounts whose calls are kept; empty: all"})
    silent = fields.Boolean(metadata={
        "description": "No upload for the organisation's `silent_after_hours` working hours of the phone's "
                       "user (their office hours; all hours when none are set)"})
    silent_since = fields.AwareDateTime(allow_none=True, metadata={
        "description": "When the phone became silent (that many working hours after its last upload)"})


class DeviceListSchema(Schema):
    items = fields.List(fields.Nested(DeviceListItemSchema))
    next_page = fields.Integer(allow_none=True)
