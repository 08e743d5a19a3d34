"""Queueing pushes to a user's phones: one recorded message per device,
with only opaque or sealed values (see `mobile_sync.push_payloads`)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update


from mobile_sync.push_payloads import NOTICE_TTL_S, build_data, collapse_key
from server.models import Device, PushMessage


def devices_of(session, organization_id: int, user_ids) -> list[Device]:
    return list(session.execute(
        select(Device).where(Device.organization_id == organization_id, Device.user_id.in_(list(user_ids)),
                             Device.revoked_at.is_(None), Device.fcm_token.is_not(None))
        .order_by(Device.id).execution_options(all_organizations=True)
    ).scalars())


def queue_push(session, *, organization_id: int, user_ids, kind: str, context: dict | None, e164: str | None,
               hash_key: str, now: datetime, ttl_s: int = NOTICE_TTL_S,
               devices: list[Device] | None = None) -> tuple[str, list[int]]:
    """Record one message per device of `user_ids`; return (push id, message ids)."""
    push_id = str(uuid.uuid4())
    key = collapse_key(hash_key, organization_id, kind, e164)
    messages = []
    for device in devices if devices is not None else devices_of(session, organization_id, user_ids):
        messages.append(PushMessage(
            organization_id=organization_id, push_id=push_id, device_id=device.id, user_id=device.user_id,
            kind=kind, collapse_key=key, ttl_s=ttl_s, data=build_data(kind, push_id, context, device.push_public_key),
            status="queued", created_at=now, expires_at=now + timedelta(seconds=ttl_s)))
    session.add_all(messages)
    session.flush()
    return push_id, [m.id for m in messages]


def forget_fcm_token(session, device_id: int, token: str) -> None:
    """Drop a token FCM reported unregistered or invalid (unless the phone
    has rotated it since)."""
    session.execute(update(Device).where(Device.id == device_id, Device.fcm_token == token).values(fcm_token=None))


def claim_push(session, message_id: int) -> dict | None:
    """Take a queued message for sending, atomically, so a job run twice (RQ
    may) or a sweep racing a worker never sends it twice. Returns what to send."""
    row = session.execute(
        update(PushMessage).where(PushMessage.id == message_id, PushMessage.status == "queued")
        .values(status="sending")
        .returning(PushMessage.kind, PushMessage.data, PushMessage.collapse_key, PushMessage.ttl_s,
                   PushMessage.expires_at, PushMessage.device_id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return None
    token = session.execute(
        select(Device.fcm_token).where(Device.id == row.device_id, Device.revoked_at.is_(None))
        .execution_options(all_organizations=True)).scalar() if row.device_id else None
    return {"kind": row.kind, "data": row.data, "collapse_key": row.collapse_key, "ttl_s": row.ttl_s,
            "expires_at": row.expires_at, "device_id": row.device_id, "token": token}


def record_push_outcome(session, message_id: int, *, status: str, attempts: int, error: str | None,
                        fcm_message_id: str | None, now: datetime, device_id: int | None, token: str | None) -> None:
    values = {"status": status, "attempts": attempts, "error": error, "fcm_message_id": fcm_message_id}
    if status in ("sent", "sink"):
        values["sent_at"] = now
    if status == "sent":
        values["data"] = None  # delivered: keep the record, not the (sealed) payload
    session.execute(update(PushMessage).where(PushMessage.id == message_id).values(**values)
                    .execution_options(synchronize_session=False))
    if status == "token_removed" and device_id and token:
        forget_fcm_token(session, device_id, token)


def stale_pushes(session, now: datetime, min_age_s: int = 10) -> tuple[list[int], int]:
    """Queued messages whose job was lost (to send now), and how many outlived
    their TTL (queued → expired; sending → unknown)."""
    queued = list(session.execute(
        select(PushMessage.id).where(PushMessage.status == "queued", PushMessage.expires_at > now,
                                     PushMessage.created_at <= now - timedelta(seconds=min_age_s))
        .order_by(PushMessage.id).limit(1000).execution_options(all_organizations=True)).scalars())
    expired = session.execute(
        update(PushMessage).where(PushMessage.status == "queued", PushMessage.expires_at <= now)
        .values(status="expired", error="NOT_SENT_IN_TIME").execution_options(synchronize_session=False)
    ).rowcount
    # Claimed but never recorded: the sender died around the send. Delivery is
    # at most once, so it is not sent again; its fate is unknown.
    expired += session.execute(
        update(PushMessage).where(PushMessage.status == "sending", PushMessage.expires_at <= now)
        .values(status="unknown", error="SENDER_LOST").execution_options(synchronize_session=False)
    ).rowcount
    return queued, expired
