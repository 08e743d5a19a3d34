"""CRM contacts: create, update, list, and the file import's query and report."""
from __future__ import annotations

import json

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from schemas.fields import Email, Id, NonEmptyText, Text
from mobile_sync.record_search import SORTS
from schemas.list_export import ListFormat
from schemas.lists import SORT_HELP, ListQuerySchema, SearchText

NAME_MAX = 200
COMPANY_MAX = 200
SOURCE_MAX = 100
PHONE_MAX = 64
PHONES_MAX = 20
# What a column of an imported file (a vCard property) may be mapped to.
MAPPING_FIELDS = ("name", "first_name", "middle_name", "last_name", "company", "email", "source", "phones")
MAPPING_COLUMNS_MAX = 1024  # columns of an imported file's header, and so of a mapping
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
    q = SearchText()
    sort = fields.String(validate=validate.OneOf(SORTS), metadata={"description": SORT_HELP})
    owner_id = Id()
    format = ListFormat()


class ContactPageSchema(Schema):
    items = fields.List(fields.Nested(ContactSchema))
    next_page = fields.Integer(allow_none=True)


class ImportMapping(Text):
    """A JSON object, column (a vCard's property) → field or null, from a query parameter."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            mapping = json.loads(super()._deserialize(value, attr, data, **kwargs))
        except ValueError:
            raise ValidationError('Must be a JSON object, column → field, such as {"Full name": "name"}.')
        if not isinstance(mapping, dict) or not mapping:
            raise ValidationError('Must be a JSON object, column → field, such as {"Full name": "name"}.')
        if len(mapping) > MAPPING_COLUMNS_MAX:
            raise ValidationError(f"At most {MAPPING_COLUMNS_MAX} columns.")
        unknown = sorted({f"{column!r}: {field!r}" for column, field in mapping.items()
                          if field is not None and field not in MAPPING_FIELDS})
        if unknown:
            raise ValidationError(f"Unknown fields ({', '.join(unknown[:20])}); a column maps to one of "
                                  f"{', '.join(MAPPING_FIELDS)}, or null to leave it out.")
        return {column.strip(): field for column, field in mapping.items()}


class ContactImportQuerySchema(Schema):
    owner_id = Id(metadata={"description": "Owner of the imported contacts; defaults to the importer."})
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "Read the whole file and answer what an import would do (format, mapping, counts, "
                       "errors), storing nothing."})
    mapping = ImportMapping(validate=validate.Length(max=64_000), metadata={
        "description": "JSON object, column → field (" + ", ".join(MAPPING_FIELDS) + ", or null to leave the "
                       "column out): overrides the mapping detected (a dry run answers it). For a vCard, the "
                       "keys are properties (FN, N, ORG, EMAIL, TEL...). A column the file does not have, or an "
                       "unknown field, is 422."})


class ImportErrorSchema(Schema):
    line = fields.Integer(metadata={"description": "Line of the file, the header being line 1."})
    message = fields.String()


class ContactImportResultSchema(Schema):
    format = fields.String(metadata={"description": "Detected from the content: callsync_csv, google_csv, "
                                                    "outlook_csv, hubspot_csv, pipedrive_csv, csv, vcard or xlsx."})
    mapping = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                          metadata={"description": "Column (vCard property) → field, as read."})
    dry_run = fields.Boolean()
    imported = fields.Integer(metadata={"description": "Contacts stored (a dry run: that would be)."})
    merged = fields.Integer(metadata={"description": "Lines that are contacts already (the same name holding one "
                                                     "of the numbers): not created twice."})
    skipped = fields.Integer(metadata={"description": "Lines not imported (see errors); the same as failed."})
    duplicates = fields.Integer(metadata={"description": "The same as merged."})
    failed = fields.Integer()
    errors = fields.List(fields.Nested(ImportErrorSchema),
                         metadata={"description": "The first 1,000 failed lines; `failed` counts them all. "
                                                  "A vCard's line is its card's BEGIN line; a workbook's, "
                                                  "its row."})
