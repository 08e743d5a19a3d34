"""A list of leads, contacts or calls as CSV: every row its filters find
(not a page), read block by block through the list's own domain function,
so the download and the list cannot disagree on what matches.

Bounded: at most EXPORT_CAP rows; a list cut at the cap says so in its last
line. Text cells go through the export's formula rule
(`mobile_sync.export_data.spreadsheet_text`), so a lead named
`=HYPERLINK("x")` opens in a spreadsheet as text.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Callable, Iterator

from mobile_sync.call_types import LABELS
from mobile_sync.export_data import spreadsheet_text

EXPORT_CAP = 100_000
BLOCK = 1_000  # rows read per call of the list's domain function

LEAD_COLUMNS = ("id", "name", "phone", "company", "email", "source", "status", "owner_id", "created_at",
                "first_call_at", "last_call_at", "calls_count")
CONTACT_COLUMNS = ("id", "name", "company", "email", "source", "owner_id", "phones", "created_at", "updated_at",
                   "last_call_at", "last_spoken_at")
CALL_COLUMNS = ("id", "user_id", "device_id", "number", "type", "duration_s", "started_at", "record_type",
                "record_id", "outcome")

# (items, next page or None) for page number and page size.
Pages = Callable[[int, int], tuple[list, "int | None"]]


def lead_row(lead) -> list:
    return [getattr(lead, name) for name in LEAD_COLUMNS]


def contact_row(contact: dict) -> list:
    return [contact[name] for name in CONTACT_COLUMNS]


def call_row(call) -> list:
    return [call.id, call.user_id, call.device_id, call.e164, LABELS.get(call.call_type), call.duration_s,
            call.started_at, call.record_type, call.record_id, call.outcome]


def csv_cell(value):
    """One cell: empty for none, ISO 8601 for a time, numbers as they are,
    text (several values joined by "; ") through the formula rule."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)):
        value = "; ".join(map(str, value))
    return spreadsheet_text(str(value))


def cap_line(cap: int) -> str:
    return f"# Stopped at {cap:,} rows, the most one download holds; narrow the filters for the rest."


def csv_lines(pages: Pages, columns: tuple[str, ...], row_of: Callable[[object], list], *,
              cap: int = EXPORT_CAP, done: Callable[[int], None] | None = None) -> Iterator[str]:
    """The header, then every row `pages` gives, block by block, as CSV text;
    `done(rows)` is told how many rows went, once, however the download ends.
    The first block is read now, so bad filters fail before anything is sent."""
    block = min(BLOCK, cap)
    first = pages(1, block)
    return _lines(first, pages, block, columns, row_of, cap, done)


def _lines(first, pages: Pages, block: int, columns, row_of, cap: int, done) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    sent = 0
    try:
        writer.writerow(columns)
        yield flush()
        page, truncated = 1, False
        while page is not None and not truncated:
            # One page size throughout: a page is an offset.
            items, page = first if page == 1 else pages(page, block)
            for item in items:
                if sent == cap:
                    truncated = True
                    break
                writer.writerow([csv_cell(value) for value in row_of(item)])
                sent += 1
            truncated = truncated or (sent == cap and page is not None)
            if truncated:
                writer.writerow([cap_line(cap)])
            yield flush()
    finally:
        if done is not None:
            done(sent)
