"""The access audit: every read of client data through the API, every export
and erasure, with actor, action, object ids and time; never the data.

Production: events are pushed to a Redis list and moved into the database in
batches by `flush_audit` (scheduled every few seconds, and run before the
audit is read). The push itself is written behind (`AUDIT_WRITE_BEHIND`, on in
production): the request hands its events to its process's writer thread and
answers, and every 20 ms the thread pushes whatever has gathered in one
RPUSH, so a caller-ID look-up does not wait for a Redis round trip (~0.3 ms of
CPU and as much waiting). A worker's clean exit flushes the writer; a killed
process loses the events of its last 20 ms.
Redis away: the events go to the database directly. Embedded mode: written in
the request's own transaction.
"""
from __future__ import annotations

import atexit
import json
import logging
import threading
import time

from flask import current_app, g
from redis.exceptions import RedisError
import orjson

from server.auth import Principal
from server.clock import now
from server.extensions import db, redis_connection
from mobile_sync.store.request_records import insert_access_events
from server.process_threads import made, one_per_app

log = logging.getLogger(__name__)
PENDING_KEY = "audit:pending"
LOCK_KEY = "audit:flush-lock"
BATCH = 1000


def _actor_ids(principal) -> tuple[int | None, int | None]:
    """The user's and the device's ids: read with the token for a request's
    principal (no ORM object loaded for them); from the objects of another
    actor (a shell command's operator)."""
    if isinstance(principal, Principal):
        return principal.user_id, principal.device_id
    return (principal.user.id if principal.user else None), (principal.device.id if principal.device else None)


def _event(principal, action, object_type, object_id, count) -> dict:
    user_id, device_id = _actor_ids(principal)
    return {
        "organization_id": principal.organization_id,
        "actor_type": principal.kind,
        "actor_user_id": user_id,
        "device_id": device_id,
        "api_key_id": principal.api_key.id if principal.api_key else None,
        "action": action, "object_type": object_type, "object_id": object_id, "count": count,
        "created_at": now(),
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
    insert_access_events(db.session, [event])


def push_pending_events() -> None:
    """After the request's commit: hand buffered events to the writer thread,
    or push them to Redis now (or, if Redis is down, write them to the database)."""
    events = g.pop("audit_events", None)
    if not events:
        return
    writer = _writer(current_app._get_current_object())
    if writer is not None and writer.add(events):
        return
    _write_events(events)


def _write_events(events: list[dict]) -> None:
    try:
        redis_connection().rpush(PENDING_KEY, *[orjson.dumps(e) for e in events])  # created_at in RFC 3339
    except RedisError as err:
        log.warning("audit events written directly (%s)", type(err).__name__)
        insert_access_events(db.session, events)
        db.session.commit()


class AuditWriter:
    """One thread per process that pushes the requests' access events to Redis,
    gathering them for up to `linger` seconds: one wake-up and one RPUSH for
    every request of that window, instead of a thread hand-off per request."""

    def __init__(self, app, linger: float = 0.02, batch: int = BATCH):
        self.app = app
        self.linger = linger
        self.batch = batch
        self._cond = threading.Condition()
        self._pending: list[dict] = []
        self._writing = 0
        self._now = False                 # flush or close: write without lingering
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, events: list[dict]) -> bool:
        with self._cond:
            if self._closed:
                return False
            if self._thread is None:  # started on first use: in the process that serves
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()
                atexit.register(self.close)
            if not self._pending:
                self._cond.notify()  # the writer starts a window; later events just join it
            self._pending.extend(events)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                deadline = time.monotonic() + self.linger
                while (not self._now and not self._closed and len(self._pending) < self.batch
                       and time.monotonic() < deadline):
                    self._cond.wait(deadline - time.monotonic())
                if not self._pending:
                    return  # closed, nothing left
                batch, self._pending = self._pending, []
                self._writing += 1
            try:
                with self.app.app_context():
                    _write_events(batch)
            except Exception as err:  # the database too: nothing more to do than say so
                log.error("%s audit events lost (%s)", len(batch), type(err).__name__)
            finally:
                with self._cond:
                    self._writing -= 1
                    self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> None:
        """Until every event handed over so far has been written."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._now = True
            self._cond.notify_all()
            while (self._pending or self._writing) and time.monotonic() < deadline:
                self._cond.wait(0.05)
            self._now = False

    def close(self, timeout: float = 3.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.flush(timeout)


def _writer(app) -> AuditWriter | None:
    if not app.config.get("AUDIT_WRITE_BEHIND") or not app.config.get("REDIS_URL"):
        return None
    return one_per_app(app, "audit_writer", lambda: AuditWriter(app))


def close_writers(timeout: float = 3.0) -> None:
    """At a worker's exit (gunicorn's worker_exit hook): write what is left."""
    for writer in made("audit_writer"):
        writer.close(timeout)


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
    writer = current_app.extensions.get("audit_writer")
    if writer is not None:
        writer.flush()  # this process's own latest events first
    if not redis.set(LOCK_KEY, "1", nx=True, ex=60):
        return 0
    moved = 0
    try:
        while True:
            raw = redis.lrange(PENDING_KEY, 0, BATCH - 1)
            if not raw:
                break
            insert_access_events(db.session, [_row(json.loads(item)) for item in raw])
            db.session.commit()
            redis.ltrim(PENDING_KEY, len(raw), -1)
            moved += len(raw)
    finally:
        redis.delete(LOCK_KEY)
    return moved
