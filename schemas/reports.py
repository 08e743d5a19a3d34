"""Reports: the query every report takes, and the items each returns."""
from __future__ import annotations

import re
from datetime import date

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from schemas.fields import MAX_ID

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Day(fields.String):
    """A calendar day, YYYY-MM-DD, in the organisation's time zone."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        if not _DAY.match(value):
            raise ValidationError("Must be a date written YYYY-MM-DD, such as 2026-11-20.")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"{value} is not a day of the calendar.")


class UserIds(fields.String):
    """One user id or several, comma-separated (a team)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not parts or len(parts) > 500 or not all(part.isdigit() for part in parts):
            raise ValidationError("Must be a user id, or up to 500 of them separated by commas.")
        ids = [int(part) for part in parts]
        if any(not 0 < user_id <= MAX_ID for user_id in ids):
            raise ValidationError("Not a user id.")
        return ids


class ReportQuerySchema(Schema):
    """What every report takes; unknown parameters are refused, not ignored
    (a misspelt filter must not silently widen a report)."""

    from_ = Day(data_key="from", metadata={
        "description": "First day, YYYY-MM-DD, in the organisation's time zone (default: 29 days before `to`)."})
    to = Day(metadata={"description": "Last day, included (default: today); before the same day 2 years after `from`."})
    user_id = UserIds(metadata={"description": "Only these users (comma-separated ids); a rep: only their own."})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")),
                           metadata={"description": "`json` (default) or `csv`."})

    known = ("from", "to", "user_id", "format")

    @pre_load
    def refuse_unknown(self, data, **kwargs):
        unknown = sorted(set(data) - set(self.known))
        if unknown:
            raise ValidationError({name: ["Unknown parameter."] for name in unknown})
        return data


class CallReportQuerySchema(ReportQuerySchema):
    group = fields.String(load_default="user,day", metadata={"description": "`user`, `day` or `user,day`."})
    known = (*ReportQuerySchema.known, "group")

    @validates_schema
    def check_group(self, data, **kwargs):
        if data.get("group") not in ("user", "day", "user,day"):
            raise ValidationError("Must be user, day or user,day.", "group")


class LeadReportQuerySchema(ReportQuerySchema):
    group = fields.String(load_default="source", metadata={"description": "`source` (the only grouping)."})
    known = (*ReportQuerySchema.known, "group")

    @validates_schema
    def check_group(self, data, **kwargs):
        if data.get("group") != "source":
            raise ValidationError("Must be source.", "group")


class CallReportItemSchema(Schema):
    user_id = fields.Integer(metadata={"description": "absent when grouped by day"})
    day = fields.String(metadata={"description": "YYYY-MM-DD in the organisation's zone; absent when grouped by user"})
    incoming = fields.Integer(metadata={"description": "answered incoming calls (Android type 1)"})
    outgoing = fields.Integer()
    missed = fields.Integer()
    rejected = fields.Integer(metadata={"description": "rejected (5) and blocked (6)"})
    connected = fields.Integer(metadata={"description": "incoming or outgoing calls that lasted"})
    talk_seconds = fields.Integer(metadata={"description": "the connected calls' durations"})
    unique_numbers = fields.Integer(metadata={"description": "distinct numbers over the whole group, not a sum"})
    office_hours_calls = fields.Integer(metadata={"description": "calls made while the user had office hours"})
    in_office_hours = fields.Integer(metadata={"description": "of those, the calls inside them"})
    office_hours_share = fields.Float(allow_none=True, metadata={"description": "in / of; null without office hours"})


class MissedReportItemSchema(Schema):
    user_id = fields.Integer()
    missed = fields.Integer()
    returned = fields.Integer(metadata={"description": "returned by a later outgoing or connected call with the "
                                                      "number, by anyone in the organisation, even after `to`"})
    unreturned = fields.Integer()
    median_callback_seconds = fields.Float(allow_none=True)


class LeadReportItemSchema(Schema):
    source = fields.String()
    created = fields.Integer()
    approved = fields.Integer()
    rejected = fields.Integer()
    merged = fields.Integer()
    pending = fields.Integer(metadata={"description": "still waiting for review"})
    responded = fields.Integer(metadata={"description": "with an outgoing call to the lead's number"})
    median_first_response_seconds = fields.Float(allow_none=True, metadata={
        "description": "from the lead's first call (else its creation) to the first outgoing call to its number"})


def report_schema(item: type[Schema], name: str) -> type[Schema]:
    return type(name, (Schema,), {
        "from_": fields.String(data_key="from"), "to": fields.String(), "timezone": fields.String(),
        "items": fields.List(fields.Nested(item))})


CallReportSchema = report_schema(CallReportItemSchema, "CallReportSchema")
MissedReportSchema = report_schema(MissedReportItemSchema, "MissedReportSchema")
LeadReportSchema = report_schema(LeadReportItemSchema, "LeadReportSchema")
