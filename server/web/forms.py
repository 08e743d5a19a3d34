"""What the pages' forms may send: the review filters and search (a GET
form) and the sign-in form. Review actions reuse the API's own schemas (schemas.leads)."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from schemas.fields import Text
from mobile_sync.record_search import SORTS
from schemas.leads import STATUSES

ANY_STATUS = "all"


class ReviewFilterSchema(Schema):
    """The queue's filters; a missing status means "pending review"."""

    class Meta:
        unknown = EXCLUDE

    status = fields.String(load_default="pending_review", validate=validate.OneOf(STATUSES + [ANY_STATUS]))
    owner_id = fields.Integer(validate=validate.Range(min=1, max=2**62))
    source = Text(validate=validate.Length(max=100))
    since = fields.Date()
    q = Text(validate=validate.Length(max=100))
    sort = fields.String(validate=validate.OneOf(SORTS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


def load_filters(args) -> tuple[dict, list[str]]:
    """The filters of a query string, and the names of those that were not
    understood (dropped, so a bad bookmark still shows a page)."""
    data = {key: value for key, value in args.items() if value.strip() != ""}
    schema = ReviewFilterSchema()
    try:
        return schema.load(data), []
    except ValidationError as err:
        bad = sorted(err.messages) if isinstance(err.messages, dict) else []
        return schema.load({k: v for k, v in data.items() if k not in bad}), bad


def zone(name: str | None):
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def start_of_day(day: date, tz) -> datetime:
    """Midnight of `day` in the organisation's time zone, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(timezone.utc)
