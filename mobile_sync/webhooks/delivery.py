"""Sending deliveries, at least once: claim (committed before anything is
sent), send, record the outcome. A sender that dies after its claim leaves
the delivery to be claimed again once the lease has run out, with the same
`webhook-id`: receivers deduplicate on it.

Retries: exponential backoff with jitter (30 s doubling to 6 h), never before
a `Retry-After`, for 3 days after the event. A 410 disables the endpoint; an
endpoint that has failed for 3 days is disabled too (the caller tells its admins).
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from mobile_sync.store.models import WebhookDelivery, WebhookEndpoint
from mobile_sync.webhooks.payloads import PayloadBatch, event_data
from mobile_sync.webhooks.sealing import unseal
from mobile_sync.webhooks.signing import secret_key, signature_header
from mobile_sync.webhooks.transport import Outcome, Transport

RETRY_WINDOW = timedelta(days=3)
FIRST_RETRY_S = 30
MAX_RETRY_S = 6 * 3600
CHUNK = 100  # deliveries claimed in one transaction


def backoff_s(attempts: int, rng: random.Random) -> float:
    """The pause after the `attempts`-th failed attempt: 30 s doubling, at most
    6 h, each drawn between half and all of it so retries do not arrive in step."""
    ceiling = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1))
    return ceiling * (0.5 + rng.random() / 2)


def lease_for(total_timeout_s: float, count: int) -> timedelta:
    """How long a sender holds what it claimed: a batch sends in seconds, and
    an endpoint that times out costs one timeout a batch (its other
    deliveries wait for the next attempt). Past the lease the sweep may send
    again: at least once, the receiver deduplicating on `webhook-id`."""
    return timedelta(seconds=60 + total_timeout_s * min(count, 4))


def claim(session, delivery_ids: list[int], now: datetime, lease: timedelta) -> list[WebhookDelivery]:
    """Take the given deliveries that are due and held by no live sender, counting an attempt each."""
    if not delivery_ids:
        return []
    claimed = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.status == "pending",
               or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
               or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now))
        .values(claimed_until=now + lease, attempts=WebhookDelivery.attempts + 1)
        .returning(WebhookDelivery.id).execution_options(synchronize_session=False)).scalars().all()
    if not claimed:
        return []
    return session.execute(select(WebhookDelivery).where(WebhookDelivery.id.in_(claimed))
                           .order_by(WebhookDelivery.id).execution_options(populate_existing=True)).scalars().all()


def due_deliveries(session, now: datetime, limit: int = 1000) -> list[int]:
    """Every organisation's pending deliveries that are due and unclaimed (the sweep: lost jobs, retries)."""
    return session.execute(select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending",
        or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now))
        .order_by(WebhookDelivery.id).limit(limit).execution_options(all_organizations=True)).scalars().all()


@dataclass
class BatchResult:
    delivered: int = 0
    retry_at: dict = field(default_factory=dict)  # delivery id -> when it is due again
    disabled: list = field(default_factory=list)  # (organization id, endpoint id, reason)


@dataclass
class _Sender:
    """An endpoint's signing keys and whether it failed already in this batch."""

    endpoint: WebhookEndpoint
    keys: list
    failed: bool = False


def send_claimed(session, deliveries: list[WebhookDelivery], *, transport: Transport, now: datetime,
                 sealing_key: str, hash_key: str, rng: random.Random, user_agent: str = "CallSync-Webhooks/1") \
        -> BatchResult:
    """Send each claimed delivery and record its outcome; flushes, never commits."""
    result = BatchResult()
    senders: dict[int, _Sender | None] = {}
    batch = PayloadBatch(session, hash_key)
    uploads: dict[int, list[int]] = {}
    for delivery in deliveries:
        if delivery.type == "call.logged":
            uploads.setdefault(delivery.organization_id, []).append((delivery.subject or {}).get("upload_id"))
    for organization_id, upload_ids in uploads.items():
        batch.prefetch(organization_id, [u for u in upload_ids if u is not None])
    with session.no_autoflush:  # the outcomes are written together at the end
        for delivery in deliveries:
            _send_one(session, delivery, senders, batch, transport, now, sealing_key, hash_key, rng, result,
                      user_agent)
    session.flush()
    return result


def _send_one(session, delivery: WebhookDelivery, senders: dict, batch: PayloadBatch, transport: Transport,
              now: datetime, sealing_key: str, hash_key: str, rng: random.Random, result: BatchResult,
              user_agent: str) -> None:
    """One delivery: its endpoint's keys (read once a batch), its body built now, signed, posted, judged."""
    sender = senders.get(delivery.endpoint_id, ...)
    if sender is ...:
        sender = senders[delivery.endpoint_id] = _sender(session, delivery.endpoint_id, sealing_key, now)
    if sender is None or not sender.endpoint.active:
        _finish(delivery, "failed", error="endpoint_disabled")
        return
    if sender.failed:  # it just failed: the rest of its deliveries wait for the next attempt
        _retry(delivery, Outcome(error="skipped"), now, rng, result, count_attempt=False)
        return
    data = event_data(session, delivery.organization_id, delivery.type, delivery.subject or {}, hash_key,
                      batch)
    if data is None:
        _finish(delivery, "cancelled", error="withdrawn")
        return
    body = json.dumps({"type": delivery.type, "timestamp": _iso(delivery.created_at), "data": data},
                      separators=(",", ":")).encode()
    stamp = int(time.time())
    headers = {"content-type": "application/json", "user-agent": user_agent,
               "webhook-id": delivery.message_id, "webhook-timestamp": str(stamp),
               "webhook-signature": signature_header(sender.keys, delivery.message_id, stamp, body)}
    outcome = transport.post(sender.endpoint.url, body, headers)
    delivery.last_status_code = outcome.status
    delivery.last_error = outcome.error
    if outcome.status is not None and 200 <= outcome.status < 300:
        _finish(delivery, "delivered")
        delivery.delivered_at = now
        sender.endpoint.failing_since = None
        result.delivered += 1
    elif outcome.status == 410:
        _finish(delivery, "failed")
        _disable(sender.endpoint, "gone", now, result)
    else:
        sender.failed = True
        endpoint = sender.endpoint
        endpoint.failing_since = endpoint.failing_since or now
        _retry(delivery, outcome, now, rng, result)
        if now - endpoint.failing_since >= RETRY_WINDOW:
            _disable(endpoint, "failing", now, result)


def _sender(session, endpoint_id: int, sealing_key: str, now: datetime) -> _Sender | None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        return None
    keys = [secret_key(unseal(sealing_key, endpoint.secret))]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        keys.append(secret_key(unseal(sealing_key, endpoint.previous_secret)))
    return _Sender(endpoint, keys)


def _finish(delivery: WebhookDelivery, status: str, error: str | None = None) -> None:
    delivery.status = status
    delivery.claimed_until = None
    delivery.next_attempt_at = None
    if error:
        delivery.last_error = error


def _retry(delivery: WebhookDelivery, outcome: Outcome, now: datetime, rng: random.Random, result: BatchResult,
           count_attempt: bool = True) -> None:
    if not count_attempt:
        delivery.attempts -= 1
    pause = backoff_s(max(1, delivery.attempts), rng)
    if outcome.retry_after_s is not None:
        pause = max(pause, outcome.retry_after_s)
    due = now + timedelta(seconds=pause)
    if due > delivery.created_at + RETRY_WINDOW:
        _finish(delivery, "failed")
        return
    delivery.next_attempt_at = due
    delivery.claimed_until = None
    result.retry_at[delivery.id] = due


def _disable(endpoint: WebhookEndpoint, reason: str, now: datetime, result: BatchResult) -> None:
    if not endpoint.active:
        return
    endpoint.active = False
    endpoint.disabled_reason = reason
    endpoint.updated_at = now
    result.disabled.append((endpoint.organization_id, endpoint.id, reason))


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
