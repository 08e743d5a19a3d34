"""CRM contacts: create, update, list, and the CSV import's report."""
from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

from schemas.fields import Email, Id, NonEmptyText, Text
from schemas.lists import ListQuerySchema

NAME_MAX = 200
COMPANY_MAX = 200
SOURCE_MAX = 100
PHONE_MAX = 64
PHONES_MAX = 20
# Optional text fields where an empty string means "none".
_BLANK_IS_NONE = ("company", "email", "source")


def _blank_to_none(data):
    if isinstance(data, dict):
        data = dict(data)
        for key in _BLANK_IS_NONE:
            if isinstance(data.get(key), str) and not data[key].strip():
                data[key] = None
    return data


class ContactCreateSchema(Schema):
    name = NonEmptyText(NAME_MAX, required=True)
    company = Text(allow_none=True, validate=validate.Length(max=COMPANY_MAX))
    email = Email(allow_none=True)
    source = Text(allow_none=True, validate=validate.Length(max=SOURCE_MAX))
    owner_id = Id(allow_none=True, strict=True,
                  metadata={"description": "Defaults to the creator; only managers and admins may "
                                           "give another user of the organisation."})
    phones = fields.List(NonEmptyText(PHONE_MAX), required=True,
                         validate=validate.Length(min=1, max=PHONES_MAX),
                         metadata={"description": "As typed; national numbers are read in the user's or the "
                                                  "organisation's region. Answered in E.164."})

    @pre_load
    def _blanks(self, data, **kwargs):
        return _blank_to_none(data)


class ContactUpdateSchema(ContactCreateSchema):
    """Every field optional; `phones`, when given, replaces the contact's numbers."""

    name = NonEmptyText(NAME_MAX)
    phones = fields.List(NonEmptyText(PHONE_MAX), validate=validate.Length(min=1, max=PHONES_MAX))


class ContactSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    company = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    phones = fields.List(fields.String(), metadata={"description": "E.164"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    last_spoken_at = fields.AwareDateTime(allow_none=True)
    last_call_at = fields.AwareDateTime(allow_none=True)


class ContactListQuerySchema(ListQuerySchema):
    q = Text(validate=validate.Length(max=NAME_MAX),
             metadata={"description": "Prefix of the name or the company, case-insensitive."})
    owner_id = Id()


class ContactPageSchema(Schema):
    items = fields.List(fields.Nested(ContactSchema))
    next_page = fields.Integer(allow_none=True)


class ContactImportQuerySchema(Schema):
    owner_id = Id(metadata={"description": "Owner of the imported contacts; defaults to the importer."})


class ImportErrorSchema(Schema):
    line = fields.Integer(metadata={"description": "Line of the file, the header being line 1."})
    message = fields.String()


class ContactImportResultSchema(Schema):
    imported = fields.Integer()
    duplicates = fields.Integer()
    failed = fields.Integer()
    errors = fields.List(fields.Nested(ImportErrorSchema),
                         metadata={"description": "The first 1,000 failed lines; `failed` counts them all."})
