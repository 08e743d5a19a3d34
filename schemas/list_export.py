"""`format` on the lists that download as CSV (leads, contacts, calls)."""
from __future__ import annotations

from marshmallow import fields, validate

from mobile_sync.list_export import EXPORT_CAP

FORMATS = ("json", "csv")


def ListFormat() -> fields.String:
    """`format=csv`: every row the filters find (not a page) as a CSV download."""
    return fields.String(load_default="json", validate=validate.OneOf(FORMATS), metadata={"description": (
        "`json` (default): a page. `csv`: every matching row (`q`, `sort` and the filters apply; `limit` and "
        f"`page` do not), streamed as text/csv, at most {EXPORT_CAP:,} rows; a download cut there says so "
        "in its last line. Text cells a spreadsheet would run as a formula start with an apostrophe.")})
