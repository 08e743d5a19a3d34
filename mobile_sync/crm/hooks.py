"""Where calls and leads become CRM push items: a processing run's calls
(beside `emit_processing_run`) and a lead approved (beside
`emit_lead_review`). Ids only; written in the caller's transaction and queued
after its commit (`server.crm_delivery`). Usually one indexed look-up that
finds no connection."""
from __future__ import annotations

from datetime import datetime

from mobile_sync.store.crm_connections import connections_of
from mobile_sync.store.crm_pushes import write_call_pushes, write_lead_pushes


def push_processed_calls(session, organization_id: int, upload_ids: list[int], now: datetime) -> list[int]:
    if not upload_ids:
        return []
    connections = connections_of(session, organization_id)
    return write_call_pushes(session, connections, upload_ids, now) if connections else []


def push_reviewed_lead(session, organization_id: int, lead_id: int, action: str, now: datetime) -> list[int]:
    if action != "approved":
        return []
    connections = connections_of(session, organization_id)
    return write_lead_pushes(session, connections, lead_id, now) if connections else []
