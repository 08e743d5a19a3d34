"""Data rights: the organisation's complete export, and erasure of a person."""
from __future__ import annotations

import tempfile

from flask import Blueprint, current_app, send_file

from mobile_sync import erasure
from mobile_sync.export_data import write_export
from mobile_sync.roles import ADMINS
from schemas.data_rights import EXPORT_RESPONSES, ErasureQuerySchema, ErasureResultSchema, ErasureSchema
from server.api.routing import operation
from server.audit import record_access
from server.auth import USER
from server.clock import now
from server.extensions import db

bp = Blueprint("data_rights", __name__, url_prefix="/api/v1")


@operation(bp, "/export", "GET", auth=USER, roles=ADMINS, responses=EXPORT_RESPONSES)
def export(principal):
    """The organisation's complete data as a zip (JSON Lines and CSV per table, with a manifest)."""
    moment = now()
    # Built in a temporary file, then streamed from it: never held in memory.
    out = tempfile.TemporaryFile(prefix="export-")
    try:
        manifest = write_export(db.session, organization_id=principal.organization_id, out=out,
                                hash_key=current_app.config["HASH_KEY"], now=moment)
    except BaseException:
        out.close()
        raise
    record_access(principal, "organization.export", "organization", principal.organization_id,
                  manifest["total_rows"])
    out.seek(0)
    return send_file(out, mimetype="application/zip", as_attachment=True, max_age=0,
                     download_name=f"callsync-export-{principal.organization_id}-{moment:%Y%m%dT%H%M%SZ}.zip")


@operation(bp, "/erasure", "POST", auth=USER, roles=ADMINS, body=ErasureSchema, query=ErasureQuerySchema,
           response=ErasureResultSchema)
def erase(principal, body, args):
    """Erase a person by phone number or by record; only a salted hash of each number is kept.
    `dry_run=true`: what would be deleted, deleting nothing (written to the access audit as a preview)."""
    user, hash_key = principal.user, current_app.config["HASH_KEY"]
    if args["dry_run"]:
        if "phone" in body:
            result = erasure.preview_phone(db.session, org=user.organization, raw_phone=body["phone"],
                                           region=user.region)
        else:
            result = erasure.preview_record(db.session, org=user.organization, record_type=body["record_type"],
                                            record_id=body["record_id"])
        record_access(principal, "person.erase_preview", result.record_type or "phone", result.record_id,
                      result.total_deleted)
        return result
    if "phone" in body:
        result = erasure.erase_phone(db.session, org=user.organization, raw_phone=body["phone"], region=user.region,
                                     hash_key=hash_key, now=now())
    else:
        result = erasure.erase_record(db.session, org=user.organization, record_type=body["record_type"],
                                      record_id=body["record_id"], hash_key=hash_key, now=now())
    record_access(principal, "person.erase", result.record_type or "phone", result.record_id,
                  result.total_deleted)
    return result
