"""New primary keys taken before a bulk insert, so that a batch of rows and
their children (a contact's numbers, a restored row's references) go in
without RETURNING, each row knowing its id in advance.

SQLite: the transaction holds the database's write lock (it begins
IMMEDIATE), so the ids after the largest are nobody else's; if someone did
take one, the insert would fail on the primary key rather than mix rows up.
PostgreSQL: the table's sequence, which concurrent transactions share.
"""
from __future__ import annotations

from sqlalchemy import func, select, text

from mobile_sync.store.dialect import per_engine

# One round trip, and one row holding every id (a row per id cost ~5 ms per
# 1,000 ids in SQLAlchemy's result layer).
_NEXT_IDS = text("SELECT array_agg(nextval(pg_get_serial_sequence(:table, 'id'))) "
                 "FROM generate_series(1, :count)")


class _IdReservation:
    """SQLite's: the ids after the largest."""

    def reserve_ids(self, session, table, count: int) -> list[int]:
        start = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        return list(range(start + 1, start + 1 + count))


class _PostgresIdReservation(_IdReservation):
    """The table's sequence: ids no other transaction gets, in one round trip."""

    def reserve_ids(self, session, table, count: int) -> list[int]:
        return session.execute(_NEXT_IDS, {"table": table.name, "count": count}).scalar_one()


_reservation = per_engine(_IdReservation, _PostgresIdReservation)


def reserve_ids(session, table, count: int) -> list[int]:
    """`count` new primary keys of `table` (a Core Table) that no other row
    has or will be given; the caller inserts rows with them in the same
    transaction."""
    if count <= 0:
        return []
    return _reservation(session).reserve_ids(session, table, count)
