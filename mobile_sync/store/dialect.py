"""Which database the store talks to, decided once per engine.

Each aggregate of the store writes its statements as a generic class (what
SQLite runs, and what any database could) and, where a measurement showed it
pays, a PostgreSQL subclass that overrides some of them. `per_engine` picks
one of the two the first time an engine is seen and keeps the instance, as
Mozilla syncstorage's connector picks `queries_sqlite` or `queries_postgres`:

    class _Statements:                    # generic
        def reserve_ids(self, session, table, count): ...

    class _PostgresStatements(_Statements):
        def reserve_ids(self, session, table, count): ...  # nextval in one round trip

    _statements = per_engine(_Statements, _PostgresStatements)

    def reserve_ids(session, table, count):
        return _statements(session).reserve_ids(session, table, count)

Nothing outside `mobile_sync/store/` asks which database it is on.
"""
from __future__ import annotations

import weakref

from sqlalchemy import Connection, Engine


def engine_of(bind) -> Engine:
    """The engine behind a session, a connection or an engine."""
    if isinstance(bind, Engine):
        return bind
    if isinstance(bind, Connection):
        return bind.engine
    return bind.get_bind()


def on_postgresql(bind) -> bool:
    """Whether `bind` (session, connection or engine) talks to PostgreSQL;
    for the store's own choices only."""
    return engine_of(bind).dialect.name == "postgresql"


def per_engine(generic: type, postgresql: type | None = None):
    """A function of a session/connection/engine that returns the instance of
    `generic` or, on PostgreSQL, of `postgresql`, made once per engine."""
    chosen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def statements_for(bind):
        engine = engine_of(bind)
        try:
            return chosen[engine]
        except KeyError:
            kind = postgresql if postgresql is not None and engine.dialect.name == "postgresql" else generic
            instance = chosen[engine] = kind()
            return instance

    return statements_for
