"""Caller ID, ringing pushes, the on-device directory and the push sink."""
from __future__ import annotations

from flask import Blueprint, current_app

from mobile_sync.caller_id import lookup_caller
from mobile_sync.directory import directory_delta
from mobile_sync.pushes import recorded_pushes
from mobile_sync.ringing import ring_for_user, ring_from_telephony
from mobile_sync.roles import ADMINS
from schemas.caller_id import (
    CallerIdQuerySchema, CallerIdSchema, DirectoryQuerySchema, DirectorySchema, PushAcceptedSchema,
    PushListQuerySchema, PushListSchema, RingingSchema, TelephonyRingingSchema,
)
from server.api.routing import after_commit, operation
from server.auth import ANY, API_KEY_AUTH, DEVICE, USER
from server.clock import now
from server.extensions import db
from mobile_sync.store.models import Organization
from server.push_dispatch import send_now

bp = Blueprint("caller_id", __name__, url_prefix="/api/v1")


@operation(bp, "/ping", "GET", auth=ANY, reads_only=True)
def ping(principal):
    """Authenticated no-op (a baseline for latency measurements)."""
    return {"ok": True}


def _audit_lookup(result, path_args):
    match = result["match"] or {}
    return ("caller_id.lookup", match.get("record_type"), match.get("record_id"), len(result["candidates"]))


@operation(bp, "/caller-id", "GET", auth=ANY, query=CallerIdQuerySchema, response=CallerIdSchema,
           audit=_audit_lookup, serialized=True, reads_only=True)
def caller_id(principal, args):
    """Who is calling: the caller's context for a number."""
    return lookup_caller(db.session, org_id=principal.organization_id, org_region=principal.organization.region,
                         user_id=principal.user_id, user_region=principal.user_region, raw_number=args["number"],
                         hash_key=current_app.config["HASH_KEY"])


def _send_after_commit(message_ids: list[int]) -> None:
    """Once committed: this process's push dispatcher sends them (RQ when it cannot)."""
    if message_ids:
        after_commit(lambda: send_now(message_ids))


@operation(bp, "/calls/ringing", "POST", auth=DEVICE, body=RingingSchema, response=PushAcceptedSchema, status=202,
           audit="ringing.lookup")
def ringing(principal, body):
    """The phone is ringing: push the caller's context to the user's devices."""
    push_id, message_ids = ring_for_user(db.session, org_id=principal.organization_id,
                                         org_region=principal.organization.region, user_id=principal.user_id,
                                         user_region=principal.user_region, raw_number=body["number"],
                                         hash_key=current_app.config["HASH_KEY"], now=now())
    _send_after_commit(message_ids)
    return {"push_id": push_id, "devices": len(message_ids)}


@operation(bp, "/telephony/ringing", "POST", auth=API_KEY_AUTH, body=TelephonyRingingSchema,
           response=PushAcceptedSchema, status=202, audit="telephony.lookup")
def telephony_ringing(principal, body):
    """PBX / call-tracking webhook: push to the owner of the dialled number or of the caller's record."""
    org = db.session.get(Organization, principal.organization_id)
    push_id, message_ids = ring_from_telephony(db.session, org=org, from_raw=body["from_"], to_raw=body["to"],
                                               hash_key=current_app.config["HASH_KEY"], now=now())
    _send_after_commit(message_ids)
    return {"push_id": push_id, "devices": len(message_ids)}


@operation(bp, "/directory", "GET", auth=DEVICE, query=DirectoryQuerySchema, response=DirectorySchema,
           audit=lambda result, _: ("directory.read", None, None, len(result["cards"])))
def directory(principal, args):
    """Caller cards changed since `cursor` (0: everything), so the phone can name callers offline."""
    return directory_delta(db.session, principal.organization_id, args["cursor"])


@operation(bp, "/push-sink", "GET", auth=USER, roles=ADMINS, query=PushListQuerySchema, response=PushListSchema,
           audit="push.list")
def push_sink(principal, args):
    """The pushes recorded (what was, or would have been, sent), newest first."""
    items, next_page = recorded_pushes(db.session, principal.organization_id, **args)
    return {"items": items, "next_page": next_page}
