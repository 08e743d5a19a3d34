"""The stored call log."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint

from mobile_sync import call_log
from mobile_sync.org_settings import effective_settings
from mobile_sync.roles import REP
from schemas.calls import CallListQuerySchema, CallLogSchema
from server.api.routing import operation
from server.auth import USER
from server.extensions import db

bp = Blueprint("calls", __name__, url_prefix="/api/v1")


@operation(bp, "/calls", "GET", auth=USER, query=CallListQuerySchema, response=CallLogSchema, audit="call.list")
def list_calls(principal, args):
    """Calls, newest first, found by `q`: the organisation's for managers and admins, a rep's own."""
    org = principal.user.organization
    items, next_page = call_log.list_calls(
        db.session, organization_id=org.id, tz=ZoneInfo(effective_settings(org)["timezone"]),
        own_user_id=principal.user_id if principal.role == REP else None,
        region=principal.user_region or org.region, **args)
    return {"items": items, "next_page": next_page}
