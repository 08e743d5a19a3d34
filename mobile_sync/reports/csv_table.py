"""A report's items as CSV: one header row, then one row per item; a text
cell a spreadsheet would run as a formula is quoted (the export's rule,
`mobile_sync.export_data.spreadsheet_text`)."""
from __future__ import annotations

import csv
import io
from operator import attrgetter

from mobile_sync.export_data import spreadsheet_text


def report_csv(items: list, columns: tuple[str, ...]) -> str:
    """`items`: a report's items (`figures`' structs), these columns of each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    cells = attrgetter(*columns)
    for item in items:
        writer.writerow(["" if value is None else spreadsheet_text(value) if isinstance(value, str) else value
                         for value in cells(item)])
    return out.getvalue()
