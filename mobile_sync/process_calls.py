"""Processing accepted call uploads: match, apply the lead rules, open or
close call-back tasks, attach calls to their records.

One run takes every pending upload of an organisation at once (up to
`MAX_UPLOADS_PER_RUN`, oldest first): under load a worker pays its per-job
and per-statement costs once for many uploads instead of once each. The
uploads are chosen at the start of the run and every statement is keyed on
that list, so an upload committed mid-run waits for the next run instead of
being half seen. Calls are decided in call order across the whole set.

Matching and attaching are statements over the run's calls; only the calls
that need a decision in Python (unmatched ones, for the lead rules; missed
and returned calls, for the tasks) are read out of the database.

Runs as a job after the upload's commit (or inline in the embedded mode).
Idempotent: the uploads are locked and marked processed in the same
transaction as every effect, so a second run, or a run after a killed
worker, finds nothing left to do and nothing is counted twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from mobile_sync.store.bulk_sql import among, plan_for_each_batch, update_rows
from mobile_sync.callback_tasks import callback_calls, update_callback_tasks
from mobile_sync.errors import not_found
from mobile_sync.lead_rules import apply_auto_lead_rules
from mobile_sync.reports.processing_hook import after_processing_run
from mobile_sync.webhooks.events import emit_processing_run
from mobile_sync.store.calls import CALLS, CallFacts, load_calls, mark_known_calls
from mobile_sync.store.locks import lock_processing
from mobile_sync.store.models import Call, Organization, SyncUpload
from mobile_sync.store.record_activity import attach_upload_calls

# Runs that may fail on one upload alone before it is set aside for an admin.
MAX_FAILURES = 3
# Uploads one run takes: 50 uploads of 1,000 calls keep a run's transaction
# and its in-memory decisions small while paying the fixed costs once for many.
MAX_UPLOADS_PER_RUN = 50
UPLOADS = SyncUpload.__table__


@dataclass
class ProcessingRun:
    """What one run did: the uploads it processed (none if there was nothing
    left to do), how many calls, the pushes to send after the commit, and
    whether it took as many uploads as a run may (so more may be pending)."""

    upload_ids: list[int] = field(default_factory=list)
    calls: int = 0
    pushes: list[int] = field(default_factory=list)
    full: bool = False


def process_upload(session, upload_id: int, now: datetime, hash_key: str, alone: bool = False) -> ProcessingRun:
    """Process the upload together with its organisation's other pending
    uploads (`alone`: only it). Nothing to do if the upload is already
    processed: the run that processed it took the others too, or their own
    jobs will."""
    organization_id = session.execute(
        select(SyncUpload.organization_id).where(SyncUpload.id == upload_id)
        .execution_options(all_organizations=True)).scalar()
    if organization_id is None:
        return ProcessingRun()
    # The organisation's lock before the upload's row: a consent withdrawal
    # holding it deletes upload rows (the other order deadlocks).
    lock_processing(session, organization_id)
    row = session.execute(
        select(SyncUpload.processed_at, SyncUpload.set_aside_at).where(SyncUpload.id == upload_id)
        .with_for_update().execution_options(all_organizations=True)
    ).one_or_none()
    if row is None or row.processed_at is not None or row.set_aside_at is not None:
        return ProcessingRun()
    plan_for_each_batch(session)
    others = [] if alone else _take_pending_uploads(session, organization_id, MAX_UPLOADS_PER_RUN - 1,
                                                    besides=upload_id)
    return _process_uploads(session, organization_id, sorted([upload_id, *others]), now, hash_key)


def process_pending_uploads(session, organization_id: int, now: datetime, hash_key: str) -> ProcessingRun:
    """Process the organisation's pending uploads, oldest first, up to
    `MAX_UPLOADS_PER_RUN`; uploads another run holds are left to it."""
    lock_processing(session, organization_id)
    plan_for_each_batch(session)
    upload_ids = _take_pending_uploads(session, organization_id, MAX_UPLOADS_PER_RUN)
    if not upload_ids:
        return ProcessingRun()
    return _process_uploads(session, organization_id, upload_ids, now, hash_key)


def _take_pending_uploads(session, organization_id: int, limit: int, besides: int | None = None) -> list[int]:
    """Lock and return the organisation's oldest unprocessed call uploads.
    SKIP LOCKED: an upload another run holds is that run's (PostgreSQL; SQLite
    has no row locks, and a single writer)."""
    u = UPLOADS.c
    query = (select(u.id).where(u.organization_id == organization_id, u.kind == "calls", u.processed_at.is_(None),
                                u.set_aside_at.is_(None))
             .order_by(u.id).limit(limit).with_for_update(skip_locked=True))
    if besides is not None:
        query = query.where(u.id != besides)
    return list(session.execute(query).scalars())


def _process_uploads(session, organization_id: int, upload_ids: list[int], now: datetime,
                     hash_key: str) -> ProcessingRun:
    """Every statement keyed on this fixed list of uploads, all of them
    marked processed in the same transaction."""
    org = session.get(Organization, organization_id)
    processed = mark_known_calls(session, org.id, upload_ids, now)
    unmatched = load_calls(session, org.id, among(session, CALLS.c.upload_id, upload_ids), CALLS.c.processed_at.is_(None))
    for call in unmatched:
        call.outcome = "unmatched"
    pushes = apply_auto_lead_rules(session, org=org, calls=unmatched, now=now, hash_key=hash_key)
    _write_outcomes(session, unmatched, now)
    pushes += update_callback_tasks(session, organization_id=org.id,
                                    calls=callback_calls(session, org.id, upload_ids), now=now, hash_key=hash_key)
    attach_upload_calls(session, org.id, upload_ids, now)
    after_processing_run(session, org.id, upload_ids)  # the reports: rollups, leads' first responses
    emit_processing_run(session, org.id, upload_ids, unmatched, now)  # webhooks: lead.created, call.logged
    session.execute(update(UPLOADS).where(among(session, UPLOADS.c.id, upload_ids))
                    .values(processed_at=now, attempts=UPLOADS.c.attempts + 1))
    session.flush()
    return ProcessingRun(upload_ids, processed + len(unmatched), pushes, full=len(upload_ids) >= MAX_UPLOADS_PER_RUN)


def _write_outcomes(session, calls: list[CallFacts], now: datetime) -> None:
    """Every call's outcome in one statement (one JSON document on PostgreSQL)."""
    update_rows(session, Call.__table__, [
        {"id": c.id, "outcome": c.outcome, "record_type": c.record_type, "record_id": c.record_id,
         "processed_at": now} for c in calls],
        {"outcome": "varchar", "record_type": "varchar", "record_id": "integer", "processed_at": "timestamptz"})


def pending_uploads(session, organization_id: int, limit: int = MAX_UPLOADS_PER_RUN) -> list[int]:
    """The organisation's unprocessed call uploads, oldest first (not locked)."""
    u = UPLOADS.c
    return list(session.execute(select(u.id).where(
        u.organization_id == organization_id, u.kind == "calls", u.processed_at.is_(None), u.set_aside_at.is_(None))
        .order_by(u.id).limit(limit)).scalars())


def record_failure(session, upload_id: int, error: str, now: datetime) -> bool:
    """Count a processing run that failed on this upload alone; at
    `MAX_FAILURES` set it aside. Returns whether it was set aside. `error` is
    a class name, never data."""
    u = UPLOADS.c
    failures = session.execute(update(UPLOADS).where(u.id == upload_id, u.processed_at.is_(None))
                               .values(failures=u.failures + 1, last_error=error[:64])
                               .returning(u.failures)).scalar()
    if failures is not None and failures >= MAX_FAILURES:
        session.execute(update(UPLOADS).where(u.id == upload_id).values(set_aside_at=now))
        return True
    return False


def set_aside_uploads(session, organization_id: int) -> list[SyncUpload]:
    """The organisation's uploads that processing gave up on, newest first."""
    return list(session.execute(select(SyncUpload).where(
        SyncUpload.organization_id == organization_id, SyncUpload.set_aside_at.is_not(None))
        .order_by(SyncUpload.id.desc()).limit(500)).scalars())


def retry_set_aside(session, organization_id: int, upload_id: int) -> SyncUpload:
    """Put a set-aside upload back in the queue (after a fix was deployed)."""
    upload = session.execute(select(SyncUpload).where(
        SyncUpload.id == upload_id, SyncUpload.organization_id == organization_id,
        SyncUpload.set_aside_at.is_not(None))).scalar_one_or_none()
    if upload is None:
        raise not_found("set-aside upload")
    upload.set_aside_at, upload.failures, upload.last_error = None, 0, None
    session.flush()
    return upload


def stale_uploads(session, *, older_than: datetime, limit: int = 500) -> list[tuple[int, int]]:
    """(upload id, organisation id) of the uploads still waiting for
    processing (the outbox) since before `older_than`, oldest first."""
    u = UPLOADS.c
    return [tuple(row) for row in session.execute(
        select(u.id, u.organization_id).where(u.kind == "calls", u.processed_at.is_(None), u.set_aside_at.is_(None),
                                              u.created_at <= older_than)
        .order_by(u.id).limit(limit))]


def stale_after(now: datetime, seconds: int = 60) -> datetime:
    return now - timedelta(seconds=seconds)
