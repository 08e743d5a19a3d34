"""Uploads from the phone, under Android's own column names."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from schemas.fields import Rows, Text

MAX_BATCH = 1000
EPOCH_MS = validate.Range(min=0, max=4_102_444_800_000)  # up to 2100-01-01


class CallRowSchema(Schema):
    """One `CallLog.Calls` cursor row. Columns the app may add later are ignored."""

    class Meta:
        unknown = EXCLUDE

    _id = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=2**62))
    number = Text(load_default=None, allow_none=True, validate=validate.Length(max=64))
    date = fields.Integer(required=True, strict=True, validate=EPOCH_MS)
    duration = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=10 * 86400))
    type = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=7))
    presentation = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=4))
    countryiso = Text(load_default=None, allow_none=True, validate=validate.Length(max=2))
    name = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))
    via_number = Text(load_default=None, allow_none=True, validate=validate.Length(max=64))
    subscription_id = Text(load_default=None, allow_none=True, validate=validate.Length(max=64), metadata={
        "description": "Android's PHONE_ACCOUNT_ID: which SIM (account) the call was on. A row may send it as "
                       "`phone_account_id` instead (`mobile_sync.call_rows.read_call`); `subscription_id` wins"})
    last_modified = fields.Integer(load_default=None, allow_none=True, strict=True, validate=EPOCH_MS)


class CallBatchSchema(Schema):
    batch_id = Text(required=True, validate=validate.Length(min=1, max=100))
    calls = Rows(required=True,
                 metadata={"description": f"Up to {MAX_BATCH} CallLog.Calls rows (see CallRow)"})


class PhoneRowSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    number = Text(required=True, validate=validate.Length(max=64))
    normalized_number = Text(load_default=None, allow_none=True, validate=validate.Length(max=64))
    type = fields.Integer(load_default=None, allow_none=True)
    label = Text(load_default=None, allow_none=True, validate=validate.Length(max=100))


class ContactRowSchema(Schema):
    """One `ContactsContract` contact with its phones and e-mails."""

    class Meta:
        unknown = EXCLUDE

    contact_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=2**62))
    lookup = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))
    display_name = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))
    last_updated = fields.Integer(required=True, strict=True, validate=EPOCH_MS)
    phones = fields.List(fields.Nested(PhoneRowSchema), load_default=list, validate=validate.Length(max=50))
    emails = fields.List(Text(validate=validate.Length(max=320)), load_default=list, validate=validate.Length(max=20))
    organization = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))


class DeletedContactSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    contact_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=2**62))
    deleted_at = fields.Integer(load_default=None, allow_none=True, strict=True, validate=EPOCH_MS)


class ContactBatchSchema(Schema):
    batch_id = Text(required=True, validate=validate.Length(min=1, max=100))
    contacts = Rows(load_default=list,
                    metadata={"description": f"Up to {MAX_BATCH} ContactsContract rows (see ContactRow)"})
    deleted = Rows(load_default=list,
                   metadata={"description": "Contacts deleted on the phone (see DeletedContact)"})


class RejectedRowSchema(Schema):
    index = fields.Integer()
    code = fields.String()
    message = fields.String()


class UploadResultSchema(Schema):
    accepted = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.List(fields.Nested(RejectedRowSchema))
    cursor = fields.String(allow_none=True)


class CallUploadResultSchema(UploadResultSchema):
    ignored = fields.Integer(dump_default=0, metadata={
        "description": "Rows dropped by the user's choices, never stored: calls on a SIM (phone account) the "
                       "device does not track, and calls with the user's private numbers"})


class CursorStateSchema(Schema):
    cursor = fields.String(allow_none=True)
    last_synced_at = fields.AwareDateTime(allow_none=True)


class SyncStateSchema(Schema):
    calls = fields.Nested(CursorStateSchema)
    contacts = fields.Nested(CursorStateSchema)
    consent = fields.Dict()


class SetAsideUploadSchema(Schema):
    """A call upload that processing gave up on: ids and counts, never its rows."""
    id = fields.Integer()
    device_id = fields.Integer()
    user_id = fields.Integer()
    batch_id = fields.String(allow_none=True)
    accepted = fields.Integer()
    created_at = fields.AwareDateTime()
    failures = fields.Integer()
    last_error = fields.String(allow_none=True)
    set_aside_at = fields.AwareDateTime()


class SetAsideUploadListSchema(Schema):
    items = fields.List(fields.Nested(SetAsideUploadSchema))
