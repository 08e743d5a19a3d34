"""Processing an accepted call upload: match, attach, apply the lead rules.

Runs as a job after the upload's commit (or inline in the embedded mode).
Idempotent: the upload row is locked and marked processed in the same
transaction as every effect, so a second run, or a run after a killed
worker, finds nothing left to do and nothing is counted twice.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select, update

from mobile_sync.call_matching import CallFacts, attach_calls_to_records, match_calls
from server.models import Call, SyncUpload

# Called as handler(session, upload, unmatched_calls, now) for the calls that
# matched no record; the auto-lead rules register here.
UNMATCHED_CALL_HANDLERS: list = []


def on_unmatched_calls(fn):
    UNMATCHED_CALL_HANDLERS.append(fn)
    return fn


def _write_outcomes(session, calls: list[CallFacts], now: datetime) -> None:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for call in calls:
        groups[(call.outcome, call.record_type, call.record_id)].append(call.id)
    for (outcome, rtype, rid), ids in groups.items():
        for start in range(0, len(ids), 500):
            session.execute(
                update(Call).where(Call.id.in_(ids[start:start + 500]))
                .values(outcome=outcome, record_type=rtype, record_id=rid, processed_at=now)
                .execution_options(synchronize_session=False))


def process_upload(session, upload_id: int, now: datetime) -> int:
    """Process the upload's unprocessed calls; return how many were processed."""
    upload = session.execute(
        select(SyncUpload).where(SyncUpload.id == upload_id).with_for_update()
        .execution_options(all_organizations=True)
    ).scalar_one_or_none()
    if upload is None or upload.processed_at is not None:
        return 0
    rows = session.execute(
        select(*CallFacts.columns()).where(Call.upload_id == upload_id, Call.processed_at.is_(None))
        .order_by(Call.started_at, Call.id)
    ).all()
    calls = [CallFacts(*row) for row in rows]
    unmatched = match_calls(session, upload.organization_id, calls)
    for handler in UNMATCHED_CALL_HANDLERS:
        handler(session, upload, unmatched, now)
    attach_calls_to_records(session, calls)
    _write_outcomes(session, calls, now)
    upload.processed_at = now
    upload.attempts += 1
    session.flush()
    return len(calls)


def pending_upload_ids(session, *, older_than: datetime | None = None, limit: int = 500) -> list[int]:
    """Uploads still waiting for processing (the outbox), oldest first."""
    query = select(SyncUpload.id).where(SyncUpload.processed_at.is_(None)).order_by(SyncUpload.id).limit(limit)
    if older_than is not None:
        query = query.where(SyncUpload.created_at <= older_than)
    return list(session.execute(query.execution_options(all_organizations=True)).scalars())


def stale_after(now: datetime, seconds: int = 60) -> datetime:
    return now - timedelta(seconds=seconds)
