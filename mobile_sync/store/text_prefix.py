"""Case-insensitive prefix search on a text column through an index on
`lower(column)`, on each database.

SQLite keeps the index in byte order and lowers ASCII letters only, so a
prefix is the range [prefix, prefix with its last character moved one on):
the expression index answers it (SQLite's own LIKE optimisation does not
apply to expressions). PostgreSQL's index uses `text_pattern_ops`, whose byte-order operators
(`~>=~`, `~<~`) take the same range whatever the database's collation — and,
unlike `LIKE 'prefix%'`, keep the index when a prepared statement's generic
plan does not know the prefix; its `lower()` folds letters beyond ASCII as
Python does.

The same indexes give a list in that byte order (`ascending`: on PostgreSQL
`ORDER BY lower(column) USING ~<~`, the index's own operator class), which
is also the order of the folded texts as Python compares them (`folding`).
"""
from __future__ import annotations

from sqlalchemy import and_
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from mobile_sync.store.dialect import per_engine

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MAX_CHAR = 0x10FFFF


class _Prefix:
    def fold(self, text: str) -> str:
        return text.translate(_ASCII_LOWER)

    def ascending(self, lowered_column):
        return lowered_column.asc()

    def at_least(self, lowered_column, value: str):
        return lowered_column >= value

    def below(self, lowered_column, value: str):
        return lowered_column < value

    def bounds(self, prefix: str) -> tuple[str, str | None]:
        """[prefix, prefix with its last character moved one on): byte order
        keeps every text that starts with `prefix` inside, and no other (no
        upper bound past the last character)."""
        last = ord(prefix[-1])
        return prefix, (prefix[:-1] + chr(last + 1) if last < _MAX_CHAR else None)

    def starts_with(self, lowered_column, prefix: str):
        low, high = self.bounds(prefix)
        start = self.at_least(lowered_column, low)
        return start if high is None else and_(start, self.below(lowered_column, high))


class _PostgresPrefix(_Prefix):
    def fold(self, text: str) -> str:
        return text.lower()

    def ascending(self, lowered_column):
        return UnaryExpression(lowered_column, modifier=custom_op("USING ~<~"))

    def at_least(self, lowered_column, value: str):
        return lowered_column.op("~>=~", is_comparison=True)(value)

    def below(self, lowered_column, value: str):
        return lowered_column.op("~<~", is_comparison=True)(value)


_prefix = per_engine(_Prefix, _PostgresPrefix)


def starts_with(session, lowered_column, text: str):
    """A condition: `lowered_column` (an expression `lower(column)` that an
    index covers) starts with `text`, ignoring case; `text` is not empty."""
    statements = _prefix(session)
    return statements.starts_with(lowered_column, statements.fold(text))


def prefix_bounds(session, text: str) -> tuple[str, str | None]:
    """The range of `lower(column)` that holds the texts starting with `text`
    (not empty), ignoring case: (low, high or None), for `in_range`."""
    statements = _prefix(session)
    return statements.bounds(statements.fold(text))


def in_range(session, lowered_column, low, high):
    """A condition: low <= `lowered_column` < high, in the index's byte order;
    `low` and `high` are values or bind parameters (a statement built once)."""
    statements = _prefix(session)
    return and_(statements.at_least(lowered_column, low), statements.below(lowered_column, high))


def unindexed(text_column):
    """The same text, as an expression no index covers: a condition on it is
    tested row by row, on the rows another index condition reads."""
    return text_column.concat("")


def ascending(session, lowered_column):
    """ORDER BY `lowered_column` (an indexed `lower(column)`) in the index's
    byte order, which is `folding`'s order as Python compares strings."""
    return _prefix(session).ascending(lowered_column)


def folding(session):
    """A function: a text (or None) lowered as the database's `lower()` lowers it ("" for none)."""
    fold = _prefix(session).fold
    return lambda text: fold(text or "")
