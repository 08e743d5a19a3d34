"""Organisation settings (admin)."""
from __future__ import annotations


from marshmallow import Schema, ValidationError, fields, validate

from mobile_sync.call_types import LEAD_RULE_TYPES
from mobile_sync.timezones import known_zones
from schemas.fields import Id, NonEmptyText, Region, Text


def iana_zone(value: str | None) -> None:
    """An IANA time zone name (an organisation's or a user's); None passes (it clears one)."""
    if value is not None and value not in known_zones():
        raise ValidationError("Not an IANA time zone, e.g. Asia/Kolkata.")


HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use HH:MM, 24-hour.")


class BusinessHoursSchema(Schema):
    days = fields.List(fields.Integer(validate=validate.Range(min=0, max=6)), required=True,
                       metadata={"description": "0 = Monday"})
    start = fields.String(required=True, validate=HHMM)
    end = fields.String(required=True, validate=HHMM)


class AutoLeadsSchema(Schema):
    enabled = fields.Boolean()
    call_types = fields.List(fields.String(validate=validate.OneOf(list(LEAD_RULE_TYPES))))
    min_duration_s = fields.Integer(validate=validate.Range(min=0, max=3600))
    skip_device_contacts = fields.Boolean()
    business_hours = fields.Nested(BusinessHoursSchema, allow_none=True)
    repeat_caller_threshold = fields.Integer(validate=validate.Range(min=1, max=100))
    queue_alert_threshold = fields.Integer(validate=validate.Range(min=1, max=100_000))
    outside_office_hours = fields.String(validate=validate.OneOf(["skip", "lead"]), metadata={
        "description": "Calls outside the calling user's office hours (in the user's zone, else the "
                       "organisation's): `lead` (default) makes leads and tasks of them as of any call; `skip` "
                       "stores them but makes neither"})


class TrackingNumberSchema(Schema):
    number = Text(required=True, validate=validate.Length(min=1, max=64))
    source = NonEmptyText(100, required=True)
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)
    owner_id = Id(allow_none=True)


class SettingsSchema(Schema):
    name = NonEmptyText(200)
    region = Region()
    timezone = Text(validate=[validate.Length(max=64), iana_zone], allow_none=True,
                    metadata={"description": "An IANA zone; null reverts to the region's (what GET shows then)."})
    auto_leads = fields.Nested(AutoLeadsSchema)
    tracking_numbers = fields.List(fields.Nested(TrackingNumberSchema), validate=validate.Length(max=500))
    campaign_devices = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^\d{1,18}$")),
                                   values=NonEmptyText(100, allow_none=True), validate=validate.Length(max=1000),
                                   metadata={"description": "Device id → source; merged into the saved ones, "
                                                            "a device sent as null loses its source."})
    keep_phone_contacts = fields.Boolean()
    retention_days = fields.Integer(validate=validate.Range(min=30, max=3650))
    silent_after_hours = fields.Integer(validate=validate.Range(min=1, max=168), metadata={
        "description": "Working hours (the user's office hours, else all hours) without an upload before a "
                       "phone is flagged silent; default 4"})
    consent_text = Text(validate=validate.Length(max=20_000), allow_none=True)
    consent_policy_version = Text(validate=validate.Length(min=1, max=32), allow_none=True)
    plan = fields.String(dump_only=True)
    trial_ends_at = fields.AwareDateTime(dump_only=True)
    record_limit = fields.Integer(dump_only=True, allow_none=True)
    records = fields.Integer(dump_only=True)
