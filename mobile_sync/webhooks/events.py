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

from mobile_sync.crm.hooks import push_processed_calls, push_reviewed_lead
from mobile_sync.store.consent_state import has_consent
from mobile_sync.store.models import SyncUpload, WebhookDelivery, WebhookEndpoint
from mobile_sync.store.models.base import utcnow
from mobile_sync.webhooks.event_types import EVENT_TYPES, TEST_EVENT

# session.info key: ids of the deliveries written in the session's transaction.
PENDING_DELIVERIES = "webhook_deliveries_written"


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def emit(session, organization_id: int, type_: str, subject: dict, now: datetime | None = None) -> list[int]:
    """Record event `type_` about `subject` for every endpoint that wants it; flushes, never commits."""
    return emit_many(session, organization_id, type_, [subject], now)


def emit_many(session, organization_id: int, type_: str, subjects: list[dict],
              now: datetime | None = None) -> list[int]:
    """`emit` for several subjects of one type, reading the endpoints once."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type_!r}")
    if not subjects:
        return []
    endpoints = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.active.is_(True))).all()
    wanted = [endpoint_id for endpoint_id, events in endpoints if type_ in (events or ())]
    if not wanted:
        return []
    consent: dict[int, bool] = {}
    sent = []
    for subject in subjects:
        device_id = subject.get("device_id") if type_ == "call.logged" else None
        if device_id is not None:
            if device_id not in consent:
                consent[device_id] = has_consent(session, device_id, "call_log")
            if not consent[device_id]:
                continue  # a phone without call-log consent: its calls never leave
        sent.append(subject)
    return _write(session, organization_id, wanted, type_, sent, now or utcnow())


# A lead's review actions (mobile_sync.leads) that are events; "edited" is not.
_LEAD_REVIEW_EVENTS = {"approved": "lead.approved", "rejected": "lead.rejected", "merged": "lead.merged",
                       "assigned": "lead.assigned"}


def emit_lead_review(session, organization_id: int, lead_id: int, action: str, now: datetime) -> None:
    """The event of a review action recorded in a lead's history, if it is one."""
    if action in _LEAD_REVIEW_EVENTS:
        emit(session, organization_id, _LEAD_REVIEW_EVENTS[action], {"lead_id": lead_id}, now)
    push_reviewed_lead(session, organization_id, lead_id, action, now)  # CRM connectors


def emit_processing_run(session, organization_id: int, upload_ids: list[int], calls, now: datetime) -> None:
    """A processing run's events (mobile_sync.process_calls): `lead.created`
    for each lead its calls made (`outcome` "lead_created"), then
    `call.logged` for each upload it finished."""
    push_processed_calls(session, organization_id, upload_ids, now)  # CRM connectors
    if not upload_ids or not _has_endpoints(session, organization_id):
        return  # the usual case: one indexed look-up a run
    emit_many(session, organization_id, "lead.created",
              [{"lead_id": call.record_id} for call in calls if call.outcome == "lead_created"], now)
    emit_uploads_logged(session, organization_id, upload_ids, now)


def emit_uploads_logged(session, organization_id: int, upload_ids: list[int], now: datetime) -> None:
    """`call.logged` for each upload a processing run finished: its phone and user, by id."""
    if not upload_ids:
        return
    rows = session.execute(select(SyncUpload.id, SyncUpload.device_id, SyncUpload.user_id).where(
        SyncUpload.organization_id == organization_id, SyncUpload.id.in_(list(upload_ids)))
        .order_by(SyncUpload.id)).all()
    emit_many(session, organization_id, "call.logged",
              [{"upload_id": row.id, "device_id": row.device_id, "user_id": row.user_id} for row in rows], now)


def emit_erasure(session, organization_id: int, deleted: dict, now: datetime) -> None:
    """`erasure.completed` with counts only: what was erased is not said."""
    emit(session, organization_id, "erasure.completed",
         {key: int(deleted.get(key, 0)) for key in ("calls", "leads", "contacts", "tasks")}, now)


def _has_endpoints(session, organization_id: int) -> bool:
    return session.execute(select(WebhookEndpoint.id).where(
        WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.active.is_(True)).limit(1)).first() \
        is not None


def emit_test(session, organization_id: int, endpoint_id: int, now: datetime | None = None) -> int:
    """A `webhook.test` delivery to one endpoint (the "test send")."""
    return _write(session, organization_id, [endpoint_id], TEST_EVENT, [{"endpoint_id": endpoint_id}],
                  now or utcnow())[0]


def _write(session, organization_id: int, endpoint_ids: list[int], type_: str, subjects: list[dict],
           now: datetime) -> list[int]:
    """One delivery row per subject and endpoint, flushed together."""
    if not endpoint_ids or not subjects:
        return []
    rows = [WebhookDelivery(organization_id=organization_id, endpoint_id=endpoint_id, message_id=new_message_id(),
                            type=type_, subject=dict(subject), status="pending", attempts=0,
                            next_attempt_at=now, created_at=now)
            for subject in subjects for endpoint_id in endpoint_ids]
    session.add_all(rows)
    session.flush()
    ids = [row.id for row in rows]
    session.info.setdefault(PENDING_DELIVERIES, []).extend(ids)
    return ids


def take_written_deliveries(session) -> list[int]:
    """The ids noted by `emit` since the last call (after a commit: to queue; after a rollback: to forget)."""
    return session.info.pop(PENDING_DELIVERIES, None) or []
