"""Field types shared by the schemas."""
from __future__ import annotations

import phonenumbers
from marshmallow import ValidationError, fields, validate


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

ROLE = fields.String(required=True, validate=validate.OneOf(["admin", "manager", "rep"]))


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
