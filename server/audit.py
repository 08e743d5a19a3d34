"""The access audit: every read of client data through the API, every export
and erasure, with actor, action, object ids and time; never the data.

Production: events are pushed to a Redis list (one RPUSH, well under a
millisecond, so caller ID keeps its latency) and moved into the database in
batches by `flush_audit` (scheduled every few seconds, and run before the
audit is read). Embedded mode: written in the request's own transaction.
"""
from __future__ import annotations

import json
import logging

from flask import g
from redis.exceptions import RedisError
from sqlalchemy import insert

from server.clock import now
from server.extensions import db, redis_connection
from server.models import AccessEvent

log = logging.getLogger(__name__)
PENDING_KEY = "audit:pending"
LOCK_KEY = "audit:flush-lock"
BATCH = 1000


def _event(principal, action, object_type, object_id, count) -> dict:
    return {
        "organization_id": principal.organization_id,
        "actor_type": principal.kind,
        "actor_user_id": principal.user.id if principal.user else None,
        "device_id": principal.device.id if principal.device else None,
        "api_key_id": principal.api_key.id if principal.api_key else None,
        "action": action, "object_type": object_type, "object_id": object_id, "count": count,
        "created_at": now().isoformat(),
    }


def record_access(principal, action: str, object_type: str | None = None, object_id: int | None = None,
                  count: int | None = None) -> None:
    """Record one access by `principal` (request context). Ids only."""
    if principal is None:
        return
    event = _event(principal, action, object_type, object_id, count)
    if redis_connection() is not None:
        g.setdefault("audit_events", []).append(event)  # pushed after the commit
        return
    db.session.execute(insert(AccessEvent), [_row(event)])


def push_pending_events() -> None:
    """After the request's commit: hand buffered events to Redis (or, if Redis
    is down, write them to the database directly)."""
    events = g.pop("audit_events", None)
    if not events:
        return
    try:
        redis_connection().rpush(PENDING_KEY, *[json.dumps(e) for e in events])
    except RedisError as err:
        log.warning("audit events written directly (%s)", type(err).__name__)
        db.session.execute(insert(AccessEvent), [_row(e) for e in events])
        db.session.commit()


def _row(event: dict) -> dict:
    from datetime import datetime

    row = dict(event)
    if isinstance(row["created_at"], str):
        row["created_at"] = datetime.fromisoformat(row["created_at"])
    return row


def flush_audit() -> int:
    """Move pending events from Redis into the database; return how many."""
    redis = redis_connection()
    if redis is None:
        return 0
    if not redis.set(LOCK_KEY, "1", nx=True, ex=60):
        return 0
    moved = 0
    try:
        while True:
            raw = redis.lrange(PENDING_KEY, 0, BATCH - 1)
            if not raw:
                break
            db.session.execute(insert(AccessEvent), [_row(json.loads(item)) for item in raw])
            db.session.commit()
            redis.ltrim(PENDING_KEY, len(raw), -1)
            moved += len(raw)
    finally:
        redis.delete(LOCK_KEY)
    return moved
