"""RQ entry points: ids and plain values in, one commit each.

Each runs inside the app context that the worker (or, in the embedded mode,
the request) provides. They are idempotent, because RQ may run a job twice.
"""
from __future__ import annotations

import logging

from mobile_sync.process_calls import pending_upload_ids, process_upload, stale_after
from server.clock import now
from server.extensions import db

log = logging.getLogger(__name__)


def process_call_upload(upload_id: int) -> int:
    """Match and attach the calls of one upload; apply the lead rules."""
    processed = process_upload(db.session, upload_id, now())
    db.session.commit()
    if processed:
        log.info("upload %s: %s calls processed", upload_id, processed)
    return processed


def sweep_outbox(min_age_s: int = 60) -> int:
    """Queue again every upload still unprocessed after `min_age_s`: what a
    Redis outage or a killed worker left behind."""
    from server.queue import enqueue

    ids = pending_upload_ids(db.session, older_than=stale_after(now(), min_age_s))
    db.session.rollback()
    for upload_id in ids:
        enqueue(process_call_upload, upload_id)
    if ids:
        log.info("outbox sweep: %s uploads queued again", len(ids))
    return len(ids)
