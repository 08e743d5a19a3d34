"""Processing an accepted call upload: match, apply the lead rules, open or
close call-back tasks, attach calls to their records.

Matching and attaching are statements over the whole upload; only the calls
that need a decision in Python (unmatched ones, for the lead rules; missed
and returned calls, for the tasks) are read out of the database.

Runs as a job after the upload's commit (or inline in the embedded mode).
Idempotent: the upload row is locked and marked processed in the same
transaction as every effect, so a second run, or a run after a killed
worker, finds nothing left to do and nothing is counted twice.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text

from mobile_sync.bulk_sql import is_postgresql, plan_for_each_batch, update_rows
from mobile_sync.call_matching import CALLS, CallFacts, attach_upload_calls, load_calls, mark_known_calls
from mobile_sync.callback_tasks import callback_calls, update_callback_tasks
from mobile_sync.lead_rules import apply_auto_lead_rules
from server.models import Call, Organization, SyncUpload

ORG_LOCK_BASE = 0x43530000_00000000 >> 1  # advisory-lock key space of call processing


def _write_outcomes(session, calls: list[CallFacts], now: datetime) -> None:
    """Every call's outcome in one statement (one JSON document on PostgreSQL)."""
    update_rows(session, Call.__table__, [
        {"id": c.id, "outcome": c.outcome, "record_type": c.record_type, "record_id": c.record_id,
         "processed_at": now} for c in calls],
        {"outcome": "varchar", "record_type": "varchar", "record_id": "integer", "processed_at": "timestamptz"})


def process_upload(session, upload_id: int, now: datetime, hash_key: str) -> tuple[int, list[int]]:
    """Process the upload's unprocessed calls.

    Returns (calls processed, ids of the pushes to send after the commit).
    """
    upload = session.execute(
        select(SyncUpload).where(SyncUpload.id == upload_id).with_for_update()
        .execution_options(all_organizations=True)
    ).scalar_one_or_none()
    if upload is None or upload.processed_at is not None:
        return 0, []
    if is_postgresql(session):
        # One upload of an organisation at a time: its leads, tasks and record
        # counters are shared by every rep, and two workers taking their row
        # locks in call order deadlock (and could open the same task twice).
        # Other organisations' uploads still run in parallel.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ORG_LOCK_BASE + upload.organization_id})
        plan_for_each_batch(session)
    org = session.get(Organization, upload.organization_id)
    processed = mark_known_calls(session, org.id, upload_id, now)
    unmatched = load_calls(session, CALLS.c.upload_id == upload_id, CALLS.c.processed_at.is_(None))
    for call in unmatched:
        call.outcome = "unmatched"
    pushes = apply_auto_lead_rules(session, org=org, calls=unmatched, now=now, hash_key=hash_key)
    _write_outcomes(session, unmatched, now)
    pushes += update_callback_tasks(session, organization_id=org.id, calls=callback_calls(session, org.id, upload_id),
                                    now=now, hash_key=hash_key)
    attach_upload_calls(session, upload_id)
    upload.processed_at = now
    upload.attempts += 1
    session.flush()
    return processed + len(unmatched), pushes


def pending_upload_ids(session, *, older_than: datetime | None = None, limit: int = 500) -> list[int]:
    """Uploads still waiting for processing (the outbox), oldest first."""
    query = select(SyncUpload.id).where(SyncUpload.processed_at.is_(None)).order_by(SyncUpload.id).limit(limit)
    if older_than is not None:
        query = query.where(SyncUpload.created_at <= older_than)
    return list(session.execute(query.execution_options(all_organizations=True)).scalars())


def stale_after(now: datetime, seconds: int = 60) -> datetime:
    return now - timedelta(seconds=seconds)
