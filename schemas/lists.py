"""What every list endpoint takes: `limit` and `page`, and nothing it does not know.

A list's query schema extends ListQuerySchema. A query parameter the list
does not declare is a 422, never ignored: `?q=` on a list that cannot search
must not answer as if it had.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from schemas.fields import Text

LIMIT_DEFAULT = 50
LIMIT_MAX = 200
PAGE_MAX = 1_000_000


SORT_HELP = ("`last_call` (latest call first), `created` (newest first, the default) or `name` (A to Z); "
             "a text `q` without `sort`: by the name, company or e-mail it matched, A to Z.")


class SearchText(Text):
    """`q`: one query box for a list of records or calls (mobile_sync.record_search)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(max=100))
        kwargs.setdefault("metadata", {"description": (
            "A name, company or e-mail prefix (case-insensitive), or a number in any form: national, "
            "international, or its last 6 or more digits. Empty: no search.")})
        super().__init__(**kwargs)


class ListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=LIMIT_DEFAULT, validate=validate.Range(min=1, max=LIMIT_MAX),
                           metadata={"description": f"Items per page, 1 to {LIMIT_MAX}."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=PAGE_MAX),
                          metadata={"description": "1 for the first page; then the answer's `next_page`."})

    @pre_load
    def _refuse_unknown(self, data, **kwargs):
        # Checked here rather than left to Meta.unknown: the caller may load
        # with unknown=EXCLUDE, and a list must refuse what it does not know.
        if not isinstance(data, dict):
            return data
        known = sorted(field.data_key or name for name, field in self.load_fields.items())
        unknown = sorted(set(data) - set(known))
        if unknown:
            message = f"Unknown query parameter; this list takes {', '.join(known)}."
            raise ValidationError({name: [message] for name in unknown})
        return data

