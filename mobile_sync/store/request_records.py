"""What every API request writes about itself: the daily request counter (the
database's, when there is no Redis) and the access audit's rows; and a
request that only reads, run without a transaction (`reads_only`).

Both run on every request, so their statements are built once and go
straight to the driver (`driver_rows`): building an upsert per request and
the ORM's bulk-insert path cost more than the statements themselves."""
from __future__ import annotations

from sqlalchemy import bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite

from mobile_sync.store.bulk_sql import driver_rows
from mobile_sync.store.dialect import engine_of, per_engine
from mobile_sync.store.models import AccessEvent, RequestCounter

_COUNTERS = RequestCounter.__table__
_EVENTS = AccessEvent.__table__
EVENT_COLUMNS = ("organization_id", "actor_type", "actor_user_id", "device_id", "api_key_id", "action",
                 "object_type", "object_id", "count", "created_at")
_INSERT_EVENT = insert(_EVENTS).values({name: bindparam(name) for name in EVENT_COLUMNS})


def _count_upsert(dialect_insert):
    return (dialect_insert(_COUNTERS).values(organization_id=bindparam("org"), day=bindparam("day"), count=1)
            .on_conflict_do_update(index_elements=["organization_id", "day"], set_={"count": _COUNTERS.c.count + 1})
            .returning(_COUNTERS.c.count))


class _Counting:
    """SQLite: counted inside the request's transaction. SQLite runs one write
    transaction at a time whatever we do, and the request's transaction holds
    the write lock already (a second connection would wait on it)."""

    upsert = _count_upsert(sqlite.insert)

    def count(self, session, organization_id: int, day: str) -> int:
        return driver_rows(session.connection(), self.upsert, {"org": organization_id, "day": day})[0][0]


class _PostgresCounting(_Counting):
    """The counter row is locked by the upsert until its transaction ends:
    inside the request's transaction all of an organisation's requests ran one
    at a time. Here it is counted in a transaction of its own, on a connection
    of its own, committed at once."""

    upsert = _count_upsert(postgresql.insert)

    def count(self, session, organization_id: int, day: str) -> int:
        with engine_of(session).begin() as connection:
            return driver_rows(connection, self.upsert, {"org": organization_id, "day": day})[0][0]


_counting = per_engine(_Counting, _PostgresCounting)


class _Reading:
    """SQLite: a transaction costs no round trip (in process); nothing to do."""

    def reads_only(self, session) -> None:
        pass


class _PostgresReading(_Reading):
    """psycopg opens a transaction with a BEGIN of its own before the first
    statement, and its COMMIT is another: two of a look-up's four round trips."""

    def reads_only(self, session) -> None:
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


_reading = per_engine(_Reading, _PostgresReading)


def reads_only(session) -> None:
    """Run this session's statements until its next commit without a
    transaction: each one commits by itself. For a request that only reads
    (and at most writes single rows, like an access event); call it before
    the session's first statement."""
    _reading(session).reads_only(session)


def count_request_in_database(session, organization_id: int, day: str) -> int:
    """Add one request to the organisation's counter of `day` (an ISO date);
    the new count. The database's counter, for a service without Redis."""
    return _counting(session).count(session, organization_id, day)


def insert_access_events(session, rows: list[dict]) -> None:
    """Write access events (rows of `EVENT_COLUMNS`, `created_at` an aware
    datetime) in the session's transaction."""
    if len(rows) == 1:
        driver_rows(session.connection(), _INSERT_EVENT, rows[0])
    elif rows:
        session.connection().execute(_INSERT_EVENT, rows)
