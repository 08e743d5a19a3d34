"""How each database's indexes hold a list's order "latest call first, the
records never called last" (mobile_sync.record_pages).

SQLite keeps NULL below every value, so `ORDER BY last_call_at DESC, id DESC`
already ends with the records never called, and walks the index on
(organisation, last_call_at, id) backwards in one pass. PostgreSQL keeps NULL
above every value (a descending order starts with them), so the list is read
as two ranges of that index: the records called, then those never called.
"""
from __future__ import annotations

from mobile_sync.store.dialect import per_engine


class _Order:
    latest_call_in_one_pass = True


class _PostgresOrder(_Order):
    latest_call_in_one_pass = False


_order = per_engine(_Order, _PostgresOrder)


def latest_call_in_one_pass(session) -> bool:
    """Whether `ORDER BY last_call_at DESC, id DESC` puts the records never called last."""
    return _order(session).latest_call_in_one_pass
