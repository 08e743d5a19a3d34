"""Field types shared by the schemas."""
from __future__ import annotations

from datetime import datetime, timezone

import phonenumbers
from marshmallow import ValidationError, fields, validate

from mobile_sync.roles import ROLES


class Text(fields.String):
    """A string trimmed of surrounding white space, without NUL or unpaired
    surrogates (which PostgreSQL and UTF-8 cannot store)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Must be valid Unicode text.")
        return text.strip()


def NonEmptyText(max_length: int, **kwargs) -> Text:
    return Text(validate=validate.Length(min=1, max=max_length), **kwargs)


class Region(Text):
    """An ISO 3166 alpha-2 region that phonenumbers can read numbers for."""

    def _deserialize(self, value, attr, data, **kwargs):
        region = super()._deserialize(value, attr, data, **kwargs).upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError("Must be an ISO 3166 alpha-2 region code, such as IN or GB.")
        return region


class Email(fields.Email):
    """An e-mail address, trimmed and lower-cased so one person is one account."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        address = super()._deserialize(value, attr, data, **kwargs)
        if len(address) > 320 or "\x00" in address:
            raise ValidationError("Not a valid email address.")
        return address.lower()


# Row ids are PostgreSQL `integer` (32-bit): a larger id in a path, query or
# body could only fail in the database, as a 500, instead of being invalid.
MAX_ID = 2**31 - 1


class Id(fields.Integer):
    """A row id as a body or a query gives it: 1 to 2**31-1, the range of the
    database's key columns, so an id past it is a 422, not a database error."""

    def __init__(self, **kwargs):
        extra = kwargs.pop("validate", None)
        checks = [validate.Range(min=1, max=MAX_ID, error=f"Must be an id between 1 and {MAX_ID}.")]
        checks += extra if isinstance(extra, (list, tuple)) else [extra] if extra else []
        super().__init__(validate=checks, **kwargs)


# The times a query or a body may give: from the Unix (and Android) epoch to a
# year before the last that Python and the database can hold, so that a time
# shifted by its offset or by a day of arithmetic still fits.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)


class Moment(fields.AwareDateTime):
    """An ISO 8601 time (UTC when it has no offset) between EARLIEST and
    LATEST, loaded in UTC. `9999-12-31T23:59:59-23:59` is a 422, not an
    overflow in the view or the database."""

    def __init__(self, **kwargs):
        kwargs.setdefault("default_timezone", timezone.utc)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(timezone.utc)
        except OverflowError:
            moment = None
        if moment is None or not EARLIEST <= moment < LATEST:
            raise ValidationError(f"Must be a time between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC).")
        return moment

ROLE = fields.String(required=True, validate=validate.OneOf(ROLES))


class Rows(fields.List):
    """A JSON array of rows handed on as sent, each to be read by its own
    per-row reader (which reports problems by index). `fields.List(Raw())`
    would pass every row through a field first: ~9 µs a row for nothing."""

    def __init__(self, **kwargs):
        super().__init__(fields.Raw(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value
