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

# The sort orders a list page offers, as its select names them.
SORT_LABELS = {"created": "newest first", "last_call": "latest call first", "name": "name, A to Z"}


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


# --- the lead page's edit form, the merge picker and the queue's bulk form ---

EDIT_FIELDS = ("name", "company", "email", "source")
BULK_SCOPES = ("checked", "page", "matching")


def lead_edit_data(form) -> dict:
    """The edit form as the API's LeadUpdateSchema takes it: an emptied
    company or e-mail address is none (no company, no address)."""
    data = {key: form.get(key, "") for key in EDIT_FIELDS}
    for key in ("company", "email"):
        if not data[key].strip():
            data[key] = None
    return data


def field_errors(err: ValidationError) -> dict[str, str]:
    """A schema's messages, one line per field, to show beside each field."""
    messages = err.messages if isinstance(err.messages, dict) else {"_form": err.messages}
    return {key: " ".join(m if isinstance(m, str) else str(m) for m in value) if isinstance(value, list)
            else str(value) for key, value in messages.items()}


class MergeSearchSchema(Schema):
    """The merge picker's search box."""

    class Meta:
        unknown = EXCLUDE

    q = Text(load_default="", validate=validate.Length(max=100))


def merge_search(args) -> str:
    try:
        return MergeSearchSchema().load({k: v for k, v in args.items() if k == "q"})["q"]
    except ValidationError:
        return ""


def bulk_scope(form) -> str:
    scope = form.get("scope", "checked")
    return scope if scope in BULK_SCOPES else "checked"


def bulk_body(form, ids: list) -> dict:
    """What POST /api/v1/leads/bulk would be sent: the ids, the action (the
    button pressed) and only the parameter that action takes."""
    action = form.get("action", "")
    body = {"ids": ids, "action": action}
    needs = {"reject": "reason", "assign": "user_id"}.get(action)
    if needs:
        body[needs] = form.get(needs, "")
    return body
