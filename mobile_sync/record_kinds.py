"""The kinds of record a number can belong to, in order of precedence, named
once: when several kinds hold a number, a CRM contact wins over a lead, and a
lead over one of the organisation's own users. Matching calls (in SQL) and
caller ID (in SQL and in Python) both read this order from here."""
from __future__ import annotations

from sqlalchemy import case, literal_column

# Most authoritative first.
PRECEDENCE = ("contact", "lead", "user")
# Records that calls are linked to (a call with a colleague is not a customer's).
CALL_RECORDS = ("contact", "lead")
RANK = {kind: rank for rank, kind in enumerate(PRECEDENCE)}


def rank_of(record_type_column):
    """A SQL expression of a record-type column's rank (0 = wins), for
    `min()`; the kinds are written into the statement (fixed names, and a
    statement text that never changes)."""
    return case(*[(record_type_column == literal_column(f"'{kind}'"), literal_column(str(rank)))
                  for kind, rank in RANK.items()])
