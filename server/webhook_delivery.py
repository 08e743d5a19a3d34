"""Webhook deliveries as background work: queued after the commit that wrote
them (one session hook), sent by `deliver_webhooks` in RQ (ids in, the
claim committed before anything is sent), retried at their due time, and
swept up by `sweep_webhooks` when a job was lost.

Embedded default (no Redis): sends run on two threads of this process after
the commit, and retries on timers; a restart leaves pending deliveries to
`flask webhooks-sweep` (or the scheduler, with Redis).
"""
from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from flask import current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mobile_sync.roles import ADMIN
from mobile_sync.store.models import Organization, User, WebhookEndpoint
from mobile_sync.webhooks.delivery import CHUNK, claim, due_deliveries, lease_for, send_claimed
from mobile_sync.webhooks.events import take_written_deliveries
from mobile_sync.webhooks.transport import Transport
from server.clock import now
from server.extensions import db, redis_connection
from server.mail import send_email
from server.queue import JOB_DEFAULTS, rq_queue

log = logging.getLogger(__name__)
_rng = random.Random()
_threads: ThreadPoolExecutor | None = None
_threads_lock = threading.Lock()
_inline: set[Future] = set()
_timers: set[threading.Timer] = set()


def install_hook() -> None:
    """Queue the deliveries `emit` wrote once their transaction commits (every
    session; idempotent). Called where the webhooks blueprint is registered."""
    if not event.contains(Session, "after_commit", _queue_after_commit):
        event.listen(Session, "after_commit", _queue_after_commit)
        event.listen(Session, "after_rollback", _forget_after_rollback)


def _queue_after_commit(session) -> None:
    ids = take_written_deliveries(session)
    if ids and has_app_context():
        queue_deliveries(ids)


def _forget_after_rollback(session) -> None:
    take_written_deliveries(session)


def queue_deliveries(delivery_ids: list[int]) -> None:
    """Queue the sending of committed deliveries, `CHUNK` a job."""
    for start in range(0, len(delivery_ids), CHUNK):
        chunk = list(delivery_ids[start:start + CHUNK])
        if redis_connection() is None:
            _run_inline(chunk)
            continue
        try:
            rq_queue("default").enqueue(deliver_webhooks, chunk, **JOB_DEFAULTS)
        except RedisError as err:  # the sweep sends them later
            log.warning("could not queue %s webhook deliveries (%s)", len(chunk), type(err).__name__)


def _run_inline(delivery_ids: list[int], delay_s: float = 0.0) -> None:
    global _threads
    app = current_app._get_current_object()
    with _threads_lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhooks")

    def run():
        with app.app_context():
            try:
                deliver_webhooks(delivery_ids)
            except Exception as err:  # left pending: the sweep takes them again
                log.warning("inline webhook delivery failed: %s", type(err).__name__)
            finally:
                db.session.remove()

    if delay_s > 0:
        def due():
            _timers.discard(timer)
            _inline.add(_threads.submit(run))

        timer = threading.Timer(delay_s, due)
        timer.daemon = True
        _timers.add(timer)
        timer.start()
        return
    _inline.add(_threads.submit(run))


def wait_for_inline_sends(timeout: float = 30.0) -> None:
    """Tests and the embedded CLI: wait until the in-process sends queued so far are done."""
    while _inline:
        future = _inline.pop()
        future.result(timeout)


def cancel_inline_retries() -> None:
    """Forget the retries waiting on timers in this process (tests; they stay pending for the sweep)."""
    while _timers:
        _timers.pop().cancel()


def deliver_webhooks(delivery_ids: list[int]) -> int:
    """Send the given deliveries that are due; returns how many were delivered.
    Idempotent: a delivery another sender holds, or already sent, is skipped."""
    config = current_app.config
    transport = Transport(allow_loopback=bool(config.get("WEBHOOK_ALLOW_LOOPBACK")),
                          connect_timeout=float(config.get("WEBHOOK_CONNECT_TIMEOUT_S", 5)),
                          total_timeout=float(config.get("WEBHOOK_TIMEOUT_S", 15)),
                          resolve=current_app.extensions.get("webhook_resolver") or _system_resolver())
    delivered = 0
    try:
        for start in range(0, len(delivery_ids), CHUNK):
            chunk = delivery_ids[start:start + CHUNK]
            moment = now()
            deliveries = claim(db.session, chunk, moment, lease_for(transport.total_timeout, len(chunk)))
            db.session.commit()  # the claim stands before anything is sent
            if not deliveries:
                continue
            result = send_claimed(db.session, deliveries, transport=transport, now=moment,
                                  sealing_key=config["SECRETS_KEY"], hash_key=config["HASH_KEY"], rng=_rng)
            db.session.commit()
            delivered += result.delivered
            _schedule_retries(result.retry_at, moment)
            for organization_id, endpoint_id, reason in result.disabled:
                log.warning("webhook endpoint %s disabled (%s)", endpoint_id, reason)
                if reason == "failing":
                    _tell_admins(organization_id, endpoint_id)
    finally:
        transport.close()
    return delivered


def _system_resolver():
    from mobile_sync.webhooks.addresses import system_resolver

    return system_resolver


def _schedule_retries(retry_at: dict[int, datetime], moment: datetime) -> None:
    for delivery_id, due in retry_at.items():
        if redis_connection() is None:
            _run_inline([delivery_id], delay_s=(due - moment).total_seconds())
            continue
        try:
            rq_queue("default").enqueue_at(due, deliver_webhooks, [delivery_id], **JOB_DEFAULTS)
        except RedisError as err:  # the sweep takes it when it is due
            log.warning("could not schedule a webhook retry (%s)", type(err).__name__)


def _tell_admins(organization_id: int, endpoint_id: int) -> None:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    org = db.session.get(Organization, organization_id)
    admins = db.session.execute(select(User.email).where(
        User.organization_id == organization_id, User.role == ADMIN, User.disabled_at.is_(None))).scalars().all()
    db.session.commit()
    link = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/webhooks"
    for email in admins:
        send_email(current_app.config, to=email, purpose="webhook-disabled",
                   subject="A CallSync webhook endpoint was disabled",
                   body=(f"Deliveries to a webhook endpoint of {org.name if org else 'your organisation'} have "
                         f"failed for 3 days, so it was disabled:\n\n{endpoint.url if endpoint else endpoint_id}\n\n"
                         f"Fix the receiver, then enable it again and redeliver what it missed: {link}\n"))


def sweep_webhooks(limit: int = 5000) -> int:
    """Queue again every pending delivery that is due and held by no live
    sender: what a lost job, a killed worker or a Redis outage left behind."""
    ids = due_deliveries(db.session, now(), limit)
    db.session.commit()
    if ids:
        queue_deliveries(ids)
        log.info("webhook sweep: %s deliveries queued again", len(ids))
    return len(ids)
