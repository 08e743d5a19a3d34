"""Queueing pushes to a user's phones: one recorded message per device,
with only opaque or sealed values (see `mobile_sync.push_payloads`); and
reading back what was recorded (the push sink)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from mobile_sync.push_payloads import NOTICE_TTL_S, SealError, build_data, collapse_key
from mobile_sync.store.models import PushMessage
from mobile_sync.store.push_messages import devices_of, insert_message


def queue_push(session, *, organization_id: int, user_ids, kind: str, context: dict | None, e164: str | None,
               hash_key: str, now: datetime, ttl_s: int = NOTICE_TTL_S, devices: list | None = None,
               ephemeral_commit: bool = False) -> tuple[str, list[int]]:
    """Record one message per device of `user_ids`; return (push id, ids of
    the messages to send). One INSERT ... RETURNING a message, on the
    session's connection (the rows reference only devices and users that
    exist already). A device whose key cannot be sealed to gets a message
    recorded as failed (`SEAL_FAILED`), never sent: one bad key does not fail
    the ring or the processing run that pushes. `ephemeral_commit`: the
    transaction's commit will not wait for the disk flush once a message is
    recorded (a ring's: see `devices_of`)."""
    push_id = str(uuid.uuid4())
    key = collapse_key(hash_key, organization_id, kind, e164)
    if devices is None:
        devices = devices_of(session, organization_id, user_ids, ephemeral_commit=ephemeral_commit)
    if not devices:
        return push_id, []
    to_send = []
    for device in devices:
        row = {"organization_id": organization_id, "push_id": push_id, "device_id": device.id,
               "user_id": device.user_id, "kind": kind, "collapse_key": key, "ttl_s": ttl_s, "status": "queued",
               "attempts": 0, "error": None, "created_at": now, "expires_at": now + timedelta(seconds=ttl_s)}
        try:
            row["data"] = build_data(kind, push_id, context, device.push_public_key)
        except SealError:
            row.update(data=build_data(kind, push_id, None, None), status="failed", error="SEAL_FAILED")
        message_id = insert_message(session, row)
        if row["status"] == "queued":
            to_send.append(message_id)
    return push_id, to_send


def recorded_pushes(session, organization_id: int, *, page: int = 1,
                    limit: int = 50) -> tuple[list[PushMessage], int | None]:
    """The organisation's recorded pushes (sent, or what would have been), newest
    first, `limit` a page; and the next page's number, or None."""
    rows = list(session.execute(
        select(PushMessage).where(PushMessage.organization_id == organization_id).order_by(PushMessage.id.desc())
        .offset((page - 1) * limit).limit(limit + 1)).scalars())
    return rows[:limit], (page + 1 if len(rows) > limit else None)
