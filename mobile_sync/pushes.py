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
