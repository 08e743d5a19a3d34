"""The service's own database sessions."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from server.extensions import db


def test_postgresql_sessions_read_times_in_utc_whatever_the_servers_time_zone(clean_app):
    """The server here runs in "Etc/UTC" (a zoneinfo zone psycopg converts
    slowly into); production servers may run in any zone. The service's
    connections ask for UTC, so every timestamptz read is in
    datetime.timezone.utc."""
    with clean_app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: SQLite has no session time zone")
        name = db.session.execute(text("SELECT current_database()")).scalar()
        db.session.execute(text(f'ALTER DATABASE "{name}" SET TimeZone = \'Asia/Kolkata\''))
        db.session.commit()
        try:
            db.engine.dispose()  # new connections, which get the database's setting unless they ask otherwise
            assert db.session.execute(text("SHOW TimeZone")).scalar() == "UTC"
            started = db.session.execute(text("SELECT TIMESTAMPTZ '2026-12-02 10:00:00+05:30'")).scalar()
            assert started.utcoffset().total_seconds() == 0 and started.hour == 4 and started.minute == 30
        finally:
            db.session.rollback()
            db.session.execute(text(f'ALTER DATABASE "{name}" RESET TimeZone'))
            db.session.commit()
            db.engine.dispose()
