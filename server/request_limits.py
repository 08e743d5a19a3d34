"""The plan's daily API request limit per organisation: 429 with
Retry-After until the UTC day ends. Redis counters in production (one INCR),
a database counter without Redis (committed apart from the request)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from redis.exceptions import RedisError

from mobile_sync.errors import ServiceError
from mobile_sync.store.bulk_sql import upsert as dialect_insert
from mobile_sync.plans import plan_limit
from server.clock import now
from server.extensions import db, redis_connection
from mobile_sync.store.models import Organization, RequestCounter

log = logging.getLogger(__name__)


def _seconds_to_midnight(moment: datetime) -> int:
    tomorrow = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - moment).total_seconds()) + 1)


def _count_in_database(org_id: int, day: str) -> int:
    """One upsert that returns the new count.

    The organisation's counter row is locked by the upsert until its
    transaction ends. Inside the request's transaction that meant until the
    request committed, so on PostgreSQL all of an organisation's requests ran
    one at a time. There it is counted in a transaction of its own, on a
    connection of its own, committed at once. SQLite runs one write
    transaction at a time whatever we do, and the request's transaction
    already holds the write lock (a second connection would wait on it), so
    there it is counted inside the request's transaction."""
    session = db.session
    stmt = (dialect_insert(session, RequestCounter).values(organization_id=org_id, day=day, count=1)
            .on_conflict_do_update(index_elements=["organization_id", "day"],
                                   set_={"count": RequestCounter.count + 1})
            .returning(RequestCounter.count))
    if session.get_bind().dialect.name == "sqlite":
        return session.connection().execute(stmt).scalar_one()
    with db.engine.connect() as connection:
        count = connection.execute(stmt).scalar_one()
        connection.commit()
    return count


def count_request(principal) -> None:
    """Count one request against the organisation's daily limit; raise 429 past it."""
    org = principal.user.organization if principal.user else db.session.get(Organization, principal.organization_id)
    limit = plan_limit(org, "daily_request_limit")
    if limit is None:
        return
    moment = now().astimezone(timezone.utc)
    day = moment.date().isoformat()
    redis = redis_connection()
    count = None
    if redis is not None:
        key = f"requests:{org.id}:{day}"
        try:
            pipe = redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, 2 * 86400)
            count = pipe.execute()[0]
        except RedisError as err:  # fail open: a Redis outage must not stop the phones
            log.warning("request counter unavailable (%s)", type(err).__name__)
            return
    if count is None:
        count = _count_in_database(org.id, day)
    if count > limit:
        raise ServiceError(429, "daily_limit_reached",
                           f"Your plan allows {limit} API requests a day; try again after midnight UTC.",
                           headers={"Retry-After": str(_seconds_to_midnight(moment))})
