"""Whether the database answers, for the health check."""
from __future__ import annotations

from sqlalchemy import select


def ping(session) -> None:
    """One round trip to the database; raises when it does not answer."""
    session.execute(select(1))
