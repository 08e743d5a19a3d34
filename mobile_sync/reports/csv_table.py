"""A report's items as CSV: one header row, then one row per item; a text
cell a spreadsheet would run as a formula is quoted (the export's rule,
`mobile_sync.export_data.spreadsheet_text`)."""
from __future__ import annotations

import csv
import io

from mobile_sync.export_data import spreadsheet_text


def report_csv(items: list[dict], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow(["" if item.get(name) is None else
                         spreadsheet_text(item[name]) if isinstance(item[name], str) else item[name]
                         for name in columns])
    return out.getvalue()
