"""Extensions created without an app and bound in `create_app`; lazy Redis."""
from __future__ import annotations

from pathlib import Path

from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from mobile_sync.store.models.base import Base

# Objects stay readable after the commit at the edge, for the response.
db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})
migrate = Migrate()
MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")  # Alembic's directory


def redis_connection():
    """The app's Redis client, created on first use; None in the embedded mode."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("redis_client")
    if client is None:
        from redis import Redis

        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        current_app.extensions["redis_client"] = client
    return client

