"""Committing the session's work: once, or again after a failure that may pass."""
from __future__ import annotations

import logging
import time

from sqlalchemy.exc import DBAPIError, OperationalError

from server.extensions import db

log = logging.getLogger(__name__)

# PostgreSQL's deadlock and serialisation failure: the same work succeeds when run again.
_TRANSIENT_SQLSTATES = ("40P01", "40001")


def commit_with_retries(work, attempts: int = 5):
    """Run `work()` in the session and commit; on a deadlock, a serialisation
    failure or a lost database connection, roll back and run it again with a
    growing pause. Returns what `work` returned."""
    for attempt in range(1, attempts + 1):
        try:
            result = work()
            db.session.commit()
            return result
        except DBAPIError as err:
            db.session.rollback()
            code = getattr(getattr(err, "orig", None), "sqlstate", None)
            transient = code in _TRANSIENT_SQLSTATES or err.connection_invalidated or isinstance(err, OperationalError)
            if not transient or attempt == attempts:
                raise
            log.warning("transient database error (%s), attempt %s", code or type(err.orig).__name__, attempt)
            time.sleep(min(8.0, 0.25 * 2 ** attempt))


def commit_once(work):
    """`work(session)`, committed; rolled back if anything fails, so the
    session is ready for the next transaction."""
    try:
        result = work(db.session)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return result
