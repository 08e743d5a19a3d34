"""The current time, in one place so tests can move it."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app


def now() -> datetime:
    override = current_app.config.get("NOW")
    if override is not None:
        return override() if callable(override) else override
    return datetime.now(timezone.utc)
