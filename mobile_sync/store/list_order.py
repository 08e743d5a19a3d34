"""How each database's indexes hold a list's order "latest call first, the
records never called last" (mobile_sync.record_pages).

SQLite keeps NULL below every value, so `ORDER BY last_call_at DESC, id DESC`
already ends with the records never called, and walks the index on
(organisation, last_call_at, id) backwards in one pass. PostgreSQL keeps NULL
above every value (a descending order starts with them), so the list is read
as two ranges of that index: the records called, then those never called.

A few records found by id (a number's, a narrow prefix's) are sorted apart
from the indexes of the orders (`apart`): SQLite without statistics walked the
organisation's whole (organisation, created_at, id) index testing each id
(82 ms at 1M contacts) rather than read the few rows and sort them. On
SQLite an ORDER BY term `+column` is one no index provides, and the list's
own conditions are tested on those rows only (`apart_condition`: inside a
function, no index reads them; without statistics SQLite took the index on
(organisation, created_at, id) for 10 rows of the organisation, and read 1M).
PostgreSQL plans these by its statistics.

A condition that is an OR of index probes, each naming the organisation
(`any_of`: a search's name, company and e-mail prefixes), beside the list's
own `organization_id = ?`: SQLite without statistics read the organisation's
every row through an index starting with it (the leads' counts per status for
`q` took 36-56 ms at 20k leads) rather than the OR of the probes' indexes, so
there it is `id IN (one probe UNION ALL the next ...)`; PostgreSQL ORs their
bitmaps.
"""
from __future__ import annotations

from sqlalchemy import false, func, or_, select, true, union_all
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from mobile_sync.store.dialect import per_engine


class _Order:
    latest_call_in_one_pass = True

    def apart(self, column):
        return UnaryExpression(column, operator=custom_op("+"), type_=column.type)

    def apart_condition(self, condition):
        return func.coalesce(condition, false()) == true()

    def any_of(self, id_column, probes):
        return id_column.in_(union_all(*(select(id_column).where(probe) for probe in probes)))


class _PostgresOrder(_Order):
    latest_call_in_one_pass = False

    def apart(self, column):
        return column

    def apart_condition(self, condition):
        return condition

    def any_of(self, id_column, probes):
        return or_(*probes)


_order = per_engine(_Order, _PostgresOrder)


def latest_call_in_one_pass(session) -> bool:
    """Whether `ORDER BY last_call_at DESC, id DESC` puts the records never called last."""
    return _order(session).latest_call_in_one_pass


def apart(session, column):
    """`column` (or an expression) as an ORDER BY term that no index provides:
    for sorting a few rows already found by id."""
    return _order(session).apart(column)


def apart_condition(session, condition):
    """`condition` tested on rows found otherwise (by id), through no index."""
    return _order(session).apart_condition(condition)


def any_of(session, id_column, probes: list):
    """A condition: one of `probes` (conditions on `id_column`'s table, each an
    index probe that names the organisation) holds, each read through its own index."""
    return _order(session).any_of(id_column, probes)
