"""Webhook deliveries as background work: queued after the commit that wrote
them (one session hook), sent by `deliver_webhooks` in RQ (ids in, the
claim committed before anything is sent), retried at their due time, and
swept up by `sweep_webhooks` when a job was lost.

Embedded default (no Redis): sends run in this process right after the
commit, as every job does there (`server.queue`); their retries wait for
`sweep_webhooks`, which the scheduler runs with Redis.
"""
from __future__ import annotations

import logging
import random
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
            _deliver_now(chunk)
            continue
        try:
            rq_queue("default").enqueue(deliver_webhooks, chunk, **JOB_DEFAULTS)
        except RedisError as err:  # the sweep sends them later
            log.warning("could not queue %s webhook deliveries (%s)", len(chunk), type(err).__name__)


def _deliver_now(delivery_ids: list[int]) -> None:
    """The embedded mode: send now, in this process, on a session of its own
    (the caller's is in the middle of its commit). A failure leaves the
    deliveries pending for the sweep."""
    session = Session(bind=db.engine, expire_on_commit=False)
    try:
        _deliver(session, delivery_ids)
    except Exception as err:
        session.rollback()
        log.warning("in-process webhook delivery failed: %s", type(err).__name__)
    finally:
        session.close()


def deliver_webhooks(delivery_ids: list[int]) -> int:
    """Send the given deliveries that are due; returns how many were delivered.
    Idempotent: a delivery another sender holds, or already sent, is skipped."""
    return _deliver(db.session, delivery_ids)


def _deliver(session, delivery_ids: list[int]) -> int:
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
            deliveries = claim(session, chunk, moment, lease_for(transport.total_timeout, len(chunk)))
            session.commit()  # the claim stands before anything is sent
            if not deliveries:
                continue
            result = send_claimed(session, deliveries, transport=transport, now=moment,
                                  sealing_key=config["SECRETS_KEY"], hash_key=config["HASH_KEY"], rng=_rng)
            session.commit()
            delivered += result.delivered
            _schedule_retries(result.retry_at)
            for organization_id, endpoint_id, reason in result.disabled:
                log.warning("webhook endpoint %s disabled (%s)", endpoint_id, reason)
                if reason == "failing":
                    _tell_admins(session, organization_id, endpoint_id)
    finally:
        transport.close()
    return delivered


def _system_resolver():
    from mobile_sync.webhooks.addresses import system_resolver

    return system_resolver


def _schedule_retries(retry_at: dict[int, datetime]) -> None:
    """Each retry as an RQ job at its due time (the scheduler runs in the
    worker). Embedded mode: the sweep takes them when they are due."""
    if not retry_at or redis_connection() is None:
        return
    for delivery_id, due in retry_at.items():
        try:
            rq_queue("default").enqueue_at(due, deliver_webhooks, [delivery_id], **JOB_DEFAULTS)
        except RedisError as err:  # the sweep takes it when it is due
            log.warning("could not schedule a webhook retry (%s)", type(err).__name__)


def _tell_admins(session, organization_id: int, endpoint_id: int) -> None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    org = session.get(Organization, organization_id)
    admins = session.execute(select(User.email).where(
        User.organization_id == organization_id, User.role == ADMIN, User.disabled_at.is_(None))).scalars().all()
    session.commit()
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
