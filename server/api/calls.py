"""The stored call log."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint

from mobile_sync import call_log
from mobile_sync.list_export import CALL_COLUMNS, call_row
from mobile_sync.org_settings import effective_settings
from mobile_sync.roles import REP
from schemas.calls import CallListQuerySchema, CallLogSchema
from schemas.list_dump import dumper
from server.api.list_export import csv_download, csv_responses, list_audit
from server.api.routing import operation
from server.auth import USER
from server.extensions import db

bp = Blueprint("calls", __name__, url_prefix="/api/v1")
# A page answered as CallLogSchema dumps it (`serialized`: schemas.list_dump).
_dump_page = dumper(CallLogSchema)


@operation(bp, "/calls", "GET", auth=USER, query=CallListQuerySchema, response=CallLogSchema,
           responses=csv_responses(CallLogSchema), audit=list_audit("call"), serialized=True, reads_only=True)
def list_calls(principal, args):
    """Calls, newest first, found by `q`: the organisation's for managers and admins, a rep's own.
    `format=csv`: every matching call as CSV."""
    org = principal.user.organization
    scope = {"organization_id": org.id, "tz": ZoneInfo(effective_settings(org)["timezone"]),
             "own_user_id": principal.user_id if principal.role == REP else None,
             "region": principal.user_region or org.region}
    if args.pop("format") == "csv":
        filters = {k: v for k, v in args.items() if k not in ("page", "limit")}

        def pages(page, limit):
            return call_log.list_calls(db.session, page=page, limit=limit, **scope, **filters)
        return csv_download(principal, "call", pages, CALL_COLUMNS, call_row)
    items, next_page = call_log.list_calls(db.session, **scope, **args)
    return _dump_page({"items": items, "next_page": next_page})
