"""RQ entry points: ids and plain values in, one commit each (the call
processing job: one per run of uploads).

Each runs inside the app context that the worker (or, in the embedded mode,
the request) provides. They are idempotent, because RQ may run a job twice.
"""
from __future__ import annotations

import logging
import time

from flask import current_app
from sqlalchemy.exc import DBAPIError, OperationalError

from mobile_sync import retention, sync_health
from mobile_sync.process_calls import (
    ProcessingRun, pending_uploads, process_pending_uploads, process_upload, record_failure, stale_after, stale_uploads,
)
from mobile_sync.push_retention import BATCH_SIZE, organizations_with_pushes_to_purge, purge_expired_pushes
from mobile_sync.store.push_messages import stale_pushes
from mobile_sync.store.statistics import refresh_now_and_then
from server.audit import flush_audit
from server.clock import now
from server.extensions import db
from server.mail import send_email
from server.push import PushSend, send_recorded_push
from server.queue import clear_queued_mark, enqueue, enqueue_unless_queued
from server.transactions import commit_once, commit_with_retries

log = logging.getLogger(__name__)

# Set while an organisation's processing job is queued and not started.
PROCESSING_QUEUED = "callsync:processing-queued:{}"


def queue_call_processing(organization_id: int) -> bool:
    """After an upload's commit: queue the organisation's processing job,
    unless one is queued and not started yet (it will read this upload)."""
    return enqueue_unless_queued(PROCESSING_QUEUED.format(organization_id), process_call_uploads, organization_id)


def queue_reports_rebuild(organization_id: int) -> bool:
    """After an organisation's time zone changed (committed): its report
    rollups are bucketed by local day, so they are rebuilt in the background."""
    return enqueue(rebuild_organization_reports, organization_id)


def queue_user_reports_rebuild(organization_id: int, user_id: int, changes: dict) -> bool:
    """After a user's own time zone or office hours changed (committed; a
    change's body naming either): the office-hours share of their calls is
    worked out when each is processed, so their rollups are rebuilt in the
    background. False if nothing needs it."""
    if not {"timezone", "office_hours"} & set(changes):
        return False
    return enqueue(rebuild_user_reports, organization_id, user_id)


def rebuild_user_reports(organization_id: int, user_id: int) -> bool:
    """Recompute one user's rollups from their stored calls; one commit."""
    from mobile_sync.reports.rebuild import rebuild_user_reports as rebuild

    done = rebuild(db.session, organization_id, user_id)
    db.session.commit()
    return done


def rebuild_organization_reports(organization_id: int) -> int:
    """Recompute the organisation's rollups from its stored calls; one commit."""
    from mobile_sync.reports.rebuild import rebuild_reports

    users = rebuild_reports(db.session, organization_id)
    db.session.commit()
    return users


def process_call_uploads(organization_id: int) -> int:
    """Process every pending call upload of the organisation, up to
    `MAX_UPLOADS_PER_RUN` a transaction. Clears the queued mark first: an
    upload committed after that gets a job of its own."""
    clear_queued_mark(PROCESSING_QUEUED.format(organization_id))
    refresh_now_and_then(db.engine)  # SQLite's planner statistics, every 10 minutes at most
    processed = 0
    while True:
        try:
            run = _processing_run(process_pending_uploads, organization_id)
        except Exception as err:
            if _database_unavailable(err):
                raise
            # One upload (or more) fails the run: take them one at a time so
            # the others go on, and count the failure against each that fails alone.
            log.warning("processing run of organisation %s failed (%s): uploads one at a time",
                        organization_id, type(err).__name__)
            return processed + _process_one_by_one(organization_id)
        processed += run.calls
        if not run.full:
            return processed


def _process_one_by_one(organization_id: int) -> int:
    """Each pending upload in a run of its own; one that fails is counted
    (`record_failure`) and, after `MAX_FAILURES` runs, set aside for an admin."""
    processed = 0
    for upload_id in pending_uploads(db.session, organization_id):
        db.session.rollback()
        try:
            processed += _processing_run(lambda session, uid, moment, key: process_upload(
                session, uid, moment, key, alone=True), upload_id).calls
        except Exception as err:
            db.session.rollback()
            if _database_unavailable(err):
                raise
            set_aside = record_failure(db.session, upload_id, type(err).__name__, now())
            db.session.commit()
            log.warning("upload %s failed processing (%s)%s", upload_id, type(err).__name__,
                        ": set aside" if set_aside else "")
    return processed


def _database_unavailable(err: Exception) -> bool:
    """A lost database is nobody's bad upload: the job fails and is tried again."""
    return isinstance(err, OperationalError) or (isinstance(err, DBAPIError) and err.connection_invalidated)


def process_call_upload(upload_id: int) -> int:
    """Process one upload together with its organisation's other pending
    uploads (jobs queued by earlier releases; the in-process benchmark)."""
    return _processing_run(process_upload, upload_id).calls


def _processing_run(process, given_id: int) -> ProcessingRun:
    """`process(session, given_id, now, hash_key)` committed, then its pushes queued."""
    run = commit_with_retries(lambda: process(db.session, given_id, now(), current_app.config["HASH_KEY"]))
    if run.pushes:
        enqueue(send_pushes, run.pushes, queue="push")
    if run.upload_ids:
        log.info("%s uploads (%s to %s): %s calls processed", len(run.upload_ids), run.upload_ids[0],
                 run.upload_ids[-1], run.calls)
    return run


def send_pushes(message_ids: list[int]) -> list[str]:
    """The notices one processing run recorded, sent one after another by one
    job (RQ's own cost per job was more than a notice's). Each is claimed
    before it is sent, so a job that dies part-way leaves the rest to the
    outbox sweep, and none is sent twice."""
    return [send_push(message_id) for message_id in message_ids]


def sweep_outbox(min_age_s: int = 60) -> int:
    """Queue again the processing of every organisation with an upload still
    unprocessed after `min_age_s`: what a Redis outage or a killed worker left
    behind. Not held back by a queued mark: the mark may outlive its job."""
    uploads = stale_uploads(db.session, older_than=stale_after(now(), min_age_s))
    pushes, expired = stale_pushes(db.session, now())
    db.session.commit()
    for organization_id in dict.fromkeys(org for _, org in uploads):
        enqueue(process_call_uploads, organization_id)
    for message_id in pushes:
        enqueue(send_push, message_id, queue="push")
    if uploads or pushes or expired:
        log.info("outbox sweep: %s uploads and %s pushes queued again, %s pushes expired",
                 len(uploads), len(pushes), expired)
    return len(uploads)


def send_push(message_id: int) -> str:
    """Send one recorded push (`server.push.send_recorded_push`), its retries
    waiting here; drop the device's token or installation ID if FCM says it is
    gone. Ringing pushes are normally sent by the web process's dispatcher
    (`server.push_dispatch`): this is its fallback, and every other push's path.
    The claim is committed in the session before anything is sent."""
    return send_recorded_push(PushSend(message_id), commit_once, sleep=time.sleep)


def run_retention() -> dict:
    """Daily: purge calls past retention, warn trial organisations a week before
    their data is deleted, delete what is due."""
    moment = now()
    purged = retention.purge_old_calls(db.session, moment)
    db.session.commit()
    warned = 0
    for org, admins in retention.organizations_to_warn(db.session, moment):
        due = retention.trial_deletion_date(org)
        for admin in admins:
            send_email(current_app.config, to=admin.email, purpose="trial-deletion-warning",
                       subject="Your CallSync trial data will be deleted",
                       body=(f"Your organisation's trial ended. Its data will be deleted on {due:%Y-%m-%d}.\n"
                             "Export it from Settings, or choose a plan to keep it.\n"))
        retention.mark_warned(org, moment)
        warned += 1
    db.session.commit()
    deleted = retention.delete_due_organizations(db.session, moment)
    db.session.commit()
    log.info("retention: %s calls purged, %s organisations warned, %s deleted",
             sum(purged.values()), warned, len(deleted))
    return {"purged_calls": sum(purged.values()), "warned": warned, "deleted_organizations": len(deleted)}


def flush_audit_events() -> int:
    """Move buffered access-audit events from Redis into the database."""
    return flush_audit()


def purge_push_messages(batch_size: int | None = None) -> int:
    """Hourly: delete recorded pushes a week past their TTL, each organisation's
    in batches of at most `batch_size` rows, one short transaction a batch."""
    size = batch_size or BATCH_SIZE
    moment = now()
    organizations = organizations_with_pushes_to_purge(db.session, moment)
    db.session.commit()
    deleted = 0
    for organization_id in organizations:
        while True:
            batch = commit_with_retries(lambda org=organization_id: purge_expired_pushes(db.session, org, moment, size))
            deleted += batch
            if batch < size:
                break
    if deleted:
        log.info("push retention: %s recorded pushes deleted", deleted)
    return deleted


def check_silent_phones() -> dict:
    """Hourly: ask each phone that stopped syncing to open the app (a push
    without personal data, at most once a day) and e-mail each organisation's
    managers and admins one daily digest of its silent phones
    (`mobile_sync.sync_health`). Committed first, then sent: a run repeated
    asks and e-mails nobody twice."""
    pushes, digests = sync_health.check_silent_phones(db.session, now(), current_app.config["HASH_KEY"])
    db.session.commit()
    if pushes:
        enqueue(send_pushes, pushes, queue="push")
    sent = 0
    for digest in digests:
        subject, body = sync_health.digest_text(digest)
        for address in digest.recipients:
            send_email(current_app.config, to=address, subject=subject, body=body, purpose="silent-phones-digest")
            sent += 1
    if pushes or digests:
        log.info("silent phones: %s asked to open the app, %s digests to %s addresses", len(pushes), len(digests),
                 sent)
    return {"pushes": len(pushes), "digests": len(digests), "emails": sent}


def import_contact_file(organization_id: int, run_id: int) -> str | None:
    """A contact file kept by the import page (`mobile_sync.contact_imports`):
    imported by blocks, its progress committed as it goes; a second run of
    the job finds the import claimed and does nothing."""
    from mobile_sync import contact_imports, contacts_csv

    config = current_app.config
    return contact_imports.run_import(
        db.session, organization_id, run_id, hash_key=config["HASH_KEY"], clock=now, commit=db.session.commit,
        workers=config.get("CSV_IMPORT_WORKERS") or contacts_csv.default_workers())
