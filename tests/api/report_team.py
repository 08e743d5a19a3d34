"""A team made straight in the database for the reports' brute-force tests:
reps with a phone each, and an upload per rep and batch for calls to come
with (processed by `after_processing_run` in any order)."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from mobile_sync.store.models import Device, SyncUpload, User


def reps_with_phones(session, organization_id: int, count: int,
                     fields: Callable[[int], dict] = lambda index: {}) -> list[tuple[int, int]]:
    """`count` reps (each with `fields(index)` besides), a device each: [(user id, device id)]."""
    reps = []
    for index in range(count):
        user = User(organization_id=organization_id, name=f"U{index}", email=f"u{index}-{organization_id}@example.test",
                    password_hash="x", role="rep", **fields(index))
        session.add(user)
        session.flush()
        device = Device(organization_id=organization_id, user_id=user.id, platform="android")
        session.add(device)
        session.flush()
        reps.append((user.id, device.id))
    return reps


def uploads_of(session, organization_id: int, reps: list[tuple[int, int]], batches: int,
               processed_at: datetime) -> dict[tuple[int, int], int]:
    """An upload per batch and rep: {(batch, rep's index): upload id}."""
    uploads = {}
    for batch in range(batches):
        for index, (user_id, device_id) in enumerate(reps):
            upload = SyncUpload(organization_id=organization_id, device_id=device_id, user_id=user_id, kind="calls",
                                accepted=0, processed_at=processed_at)
            session.add(upload)
            session.flush()
            uploads[(batch, index)] = upload.id
    return uploads
