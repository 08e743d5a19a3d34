"""The plan's daily API request limit per organisation: 429 with
Retry-After until the UTC day ends. Redis counters in production (one INCR),
a database counter without Redis (`count_request_in_database`)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from redis.exceptions import RedisError

from mobile_sync.errors import ServiceError
from mobile_sync.plans import plan_limit
from mobile_sync.store.request_records import count_request_in_database
from server.clock import now
from server.extensions import db, redis_connection

log = logging.getLogger(__name__)
COUNTER_TTL_S = 2 * 86400


def _seconds_to_midnight(moment: datetime) -> int:
    tomorrow = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - moment).total_seconds()) + 1)


def _count_in_redis(redis, org_id: int, day: str) -> int | None:
    """One INCR; the day's first request also sets the key's expiry (a
    MULTI/INCR/EXPIRE/EXEC pipeline on every request cost twice the CPU).
    None when Redis is away: fail open, a Redis outage must not stop the phones."""
    key = f"requests:{org_id}:{day}"
    try:
        count = redis.incr(key)
        if count == 1:
            redis.expire(key, COUNTER_TTL_S)
        return count
    except RedisError as err:
        log.warning("request counter unavailable (%s)", type(err).__name__)
        return None


def count_request(principal) -> None:
    """Count one request against the organisation's daily limit; raise 429 past it."""
    org = principal.organization
    limit = plan_limit(org, "daily_request_limit")
    if limit is None:
        return
    moment = now().astimezone(timezone.utc)
    day = moment.date().isoformat()
    redis = redis_connection()
    if redis is not None:
        count = _count_in_redis(redis, principal.organization_id, day)
        if count is None:
            return
    else:
        count = count_request_in_database(db.session, principal.organization_id, day)
    if count > limit:
        raise ServiceError(429, "daily_limit_reached",
                           f"Your plan allows {limit} API requests a day; try again after midnight UTC.",
                           headers={"Retry-After": str(_seconds_to_midnight(moment))})
