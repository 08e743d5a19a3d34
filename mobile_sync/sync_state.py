"""Where a phone's uploads got to, so a reinstalled app knows where to resume."""
from __future__ import annotations

from sqlalchemy import select

from mobile_sync.consent import consent_state
from mobile_sync.store.models import SyncCursor


def sync_state(session, device_id: int) -> dict:
    cursors = {row.kind: row for row in session.execute(
        select(SyncCursor).where(SyncCursor.device_id == device_id)).scalars()}
    state = {}
    for kind in ("calls", "contacts"):
        row = cursors.get(kind)
        state[kind] = {"cursor": str(row.cursor) if row else None,
                       "last_synced_at": row.last_synced_at if row else None}
    consent = consent_state(session, device_id)
    consent.pop("device_id")
    state["consent"] = {scope: {**value, "updated_at": value["updated_at"].isoformat() if value["updated_at"] else None}
                        for scope, value in consent.items()}
    return state
