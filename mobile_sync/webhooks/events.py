"""The one hook every data change that makes an event goes through.

`emit(session, organization_id, type, subject)` writes one delivery row per
active endpoint subscribed to `type`, in the caller's transaction, and notes
the new rows' ids on the session; the server queues them once that
transaction commits (`server.webhook_delivery`), so a job never reads a row
that is not there and a rolled-back change sends nothing. `subject` holds ids
(and counts) only: the body is built when it is sent.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from mobile_sync.store.consent_state import has_consent
from mobile_sync.store.models import WebhookDelivery, WebhookEndpoint
from mobile_sync.store.models.base import utcnow
from mobile_sync.webhooks.event_types import EVENT_TYPES, TEST_EVENT

# session.info key: ids of the deliveries written in the session's transaction.
PENDING_DELIVERIES = "webhook_deliveries_written"


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def emit(session, organization_id: int, type_: str, subject: dict, now: datetime | None = None) -> list[int]:
    """Record event `type_` about `subject` for every endpoint that wants it; flushes, never commits."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type_!r}")
    if type_ == "call.logged" and subject.get("device_id") and not has_consent(
            session, subject["device_id"], "call_log"):
        return []  # a phone without call-log consent: its calls never leave
    endpoints = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.active.is_(True))).all()
    wanted = [endpoint_id for endpoint_id, events in endpoints if type_ in (events or ())]
    return _write(session, organization_id, wanted, type_, subject, now or utcnow())


def emit_test(session, organization_id: int, endpoint_id: int, now: datetime | None = None) -> int:
    """A `webhook.test` delivery to one endpoint (the "test send")."""
    return _write(session, organization_id, [endpoint_id], TEST_EVENT, {"endpoint_id": endpoint_id},
                  now or utcnow())[0]


def _write(session, organization_id: int, endpoint_ids: list[int], type_: str, subject: dict,
           now: datetime) -> list[int]:
    if not endpoint_ids:
        return []
    rows = [WebhookDelivery(organization_id=organization_id, endpoint_id=endpoint_id, message_id=new_message_id(),
                            type=type_, subject=dict(subject), status="pending", attempts=0,
                            next_attempt_at=now, created_at=now)
            for endpoint_id in endpoint_ids]
    session.add_all(rows)
    session.flush()
    ids = [row.id for row in rows]
    session.info.setdefault(PENDING_DELIVERIES, []).extend(ids)
    return ids


def take_written_deliveries(session) -> list[int]:
    """The ids noted by `emit` since the last call (after a commit: to queue; after a rollback: to forget)."""
    return session.info.pop(PENDING_DELIVERIES, None) or []
