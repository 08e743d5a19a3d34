"""Uploads from the phone: call log and contact list (device token)."""
from __future__ import annotations

from flask import Blueprint, current_app

from mobile_sync.call_rows import read_call_batch
from mobile_sync.ingest_calls import ingest_calls
from mobile_sync.ingest_contacts import ingest_contacts
from mobile_sync.process_calls import retry_set_aside, set_aside_uploads
from mobile_sync.sync_state import sync_state
from mobile_sync.roles import ADMINS
from schemas.sync import (
    CallBatchSchema, CallUploadResultSchema, ContactBatchSchema, SetAsideUploadListSchema, SetAsideUploadSchema, SyncStateSchema,
    UploadResultSchema,
)
from server.api.routing import after_commit, operation
from server.auth import DEVICE, USER
from server.clock import now
from server.extensions import db
from server.jobs import queue_call_processing
from server.metrics import observe_ingest

bp = Blueprint("sync", __name__, url_prefix="/api/v1")


@operation(bp, "/sync/calls", "POST", auth=DEVICE, body=CallBatchSchema, fast_body=read_call_batch,
           response=CallUploadResultSchema)
def upload_calls(principal, body):
    """Upload CallLog.Calls rows; idempotent, per-row errors by index; rows of untracked SIMs and private numbers are ignored."""
    result = ingest_calls(db.session, device=principal.device, user=principal.user,
                          org=principal.user.organization, batch_id=body["batch_id"], rows=body["calls"],
                          now=now(), hash_key=current_app.config["HASH_KEY"])
    if result.upload_id is not None:
        organization_id = principal.user.organization_id
        after_commit(lambda: queue_call_processing(organization_id))
    after_commit(lambda: observe_ingest("calls", result.accepted, result.duplicates, len(result.rejected)))
    return result


@operation(bp, "/sync/contacts", "POST", auth=DEVICE, body=ContactBatchSchema, response=UploadResultSchema)
def upload_contacts(principal, body):
    """Upload ContactsContract rows and deletions; only keyed hashes are kept by default."""
    result = ingest_contacts(db.session, device=principal.device, user=principal.user,
                             org=principal.user.organization, contacts=body["contacts"], deleted=body["deleted"],
                             now=now(), hash_key=current_app.config["HASH_KEY"])
    after_commit(lambda: observe_ingest("contacts", result.accepted, result.duplicates, len(result.rejected)))
    return result


@operation(bp, "/sync/state", "GET", auth=DEVICE, response=SyncStateSchema)
def get_sync_state(principal):
    """Cursors and consent, so a reinstalled app knows where to resume."""
    return sync_state(db.session, principal.device.id)


@operation(bp, "/sync/set-aside", "GET", auth=USER, roles=ADMINS, response=SetAsideUploadListSchema)
def list_set_aside(principal):
    """Call uploads that failed processing repeatedly and were set aside, so the others could go on."""
    return {"items": set_aside_uploads(db.session, principal.organization_id)}


@operation(bp, "/sync/set-aside/<int:upload_id>/retry", "POST", auth=USER, roles=ADMINS,
           response=SetAsideUploadSchema)
def retry_upload(principal, upload_id):
    """Queue a set-aside upload for processing again (after the cause was fixed)."""
    upload = retry_set_aside(db.session, principal.organization_id, upload_id)
    organization_id = principal.organization_id
    after_commit(lambda: queue_call_processing(organization_id))
    return upload
