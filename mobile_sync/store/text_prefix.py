"""Case-insensitive prefix search on a text column through an index on
`lower(column)`, on each database.

SQLite keeps the index in byte order and lowers ASCII letters only, so a
prefix is the range [prefix, prefix with its last character moved one on):
the expression index answers it (SQLite's own LIKE optimisation does not
apply to expressions). PostgreSQL's index uses `text_pattern_ops`, which
serves `LIKE 'prefix%'` whatever the database's collation, and its `lower()`
folds letters beyond ASCII as Python does.
"""
from __future__ import annotations

from sqlalchemy import and_

from mobile_sync.store.dialect import per_engine

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MAX_CHAR = 0x10FFFF


class _Prefix:
    def fold(self, text: str) -> str:
        return text.translate(_ASCII_LOWER)

    def starts_with(self, lowered_column, prefix: str):
        last = ord(prefix[-1])
        if last >= _MAX_CHAR:
            return lowered_column >= prefix
        return and_(lowered_column >= prefix, lowered_column < prefix[:-1] + chr(last + 1))


class _PostgresPrefix(_Prefix):
    def fold(self, text: str) -> str:
        return text.lower()

    def starts_with(self, lowered_column, prefix: str):
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return lowered_column.like(escaped + "%", escape="\\")


_prefix = per_engine(_Prefix, _PostgresPrefix)


def starts_with(session, lowered_column, text: str):
    """A condition: `lowered_column` (an expression `lower(column)` that an
    index covers) starts with `text`, ignoring case; `text` is not empty."""
    statements = _prefix(session)
    return statements.starts_with(lowered_column, statements.fold(text))
