"""The stored call log: who may read which calls, between which times."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

from marshmallow import Schema, ValidationError, fields

from mobile_sync.call_types import LABELS
from schemas.fields import EARLIEST, LATEST, Id
from schemas.list_export import ListFormat
from schemas.lists import ListQuerySchema, SearchText

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DayOrMoment(fields.String):
    """An ISO 8601 date (a day in the organisation's time zone) or date and
    time (with an offset, or else in the organisation's time zone); loaded as
    a `date`, an aware `datetime`, or a naive one for the caller to place."""

    def _deserialize(self, value, attr, data, **kwargs):
        message = "Must be an ISO 8601 date (2026-11-20) or date and time (2026-11-20T09:30:00+05:30)."
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            loaded = date.fromisoformat(value) if _DAY.match(value) else datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(message)
        # A day or a time a day's shift from the edges still fits in Python and the database.
        moment = loaded if isinstance(loaded, datetime) else datetime(loaded.year, loaded.month, loaded.day)
        try:
            utc = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        except OverflowError:
            utc = None
        if utc is None or not EARLIEST <= utc < LATEST:
            raise ValidationError(f"Must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}.")
        return loaded


class CallListQuerySchema(ListQuerySchema):
    user_id = Id(metadata={"description": "Only this user's calls (a rep sees only their own in any case)."})
    from_ = DayOrMoment(data_key="from", metadata={
        "description": "Calls that started at or after this time; a date is the start of that day in the "
                       "organisation's time zone."})
    to = DayOrMoment(metadata={
        "description": "Calls that started at or before this time; a date includes the whole day. "
                       "Before `from`: 422."})
    q = SearchText(metadata={"description": (
        "A number in any form (national, international, or the last 6 or more digits of a lead's or "
        "contact's number), or a prefix of the name, company or e-mail of the lead or contact called.")})
    format = ListFormat()


class CallLogItemSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    device_id = fields.Integer()
    number = fields.String(attribute="e164", allow_none=True,
                           metadata={"description": "E.164; null when withheld or unreadable"})
    type = fields.Function(lambda call: LABELS.get(call.call_type),
                           metadata={"description": "incoming, outgoing, missed, voicemail, rejected, blocked "
                                                    "or answered_externally"})
    duration_s = fields.Integer()
    started_at = fields.AwareDateTime()
    record_type = fields.String(allow_none=True, metadata={"description": "lead or contact the call is linked to"})
    record_id = fields.Integer(allow_none=True)
    outcome = fields.String(allow_none=True)


class CallLogSchema(Schema):
    items = fields.List(fields.Nested(CallLogItemSchema))
    next_page = fields.Integer(allow_none=True)
