"""A device's consent per scope, as every upload asks it: one prebuilt
statement straight to the driver."""
from __future__ import annotations

from sqlalchemy import bindparam, select

from mobile_sync.store.bulk_sql import driver_rows
from mobile_sync.store.models import ConsentState

_GRANTED = select(ConsentState.granted).where(ConsentState.device_id == bindparam("device"),
                                              ConsentState.scope == bindparam("scope"))


def has_consent(session, device_id: int, scope: str) -> bool:
    rows = driver_rows(session.connection(), _GRANTED, {"device": device_id, "scope": scope})
    return bool(rows and rows[0][0])
