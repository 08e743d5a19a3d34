"""Reports (API.md, "Reports"): calls, missed calls and leads over a range
of days in the organisation's zone, as JSON or, with `format=csv`, CSV."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response

from mobile_sync.org_settings import effective_settings
from mobile_sync.reports import figures
from mobile_sync.reports.csv_table import report_csv
from server.api.routing import operation
from server.auth import USER
from server.clock import now as clock_now
from server.extensions import db
from schemas.reports import (
    CallReportQuerySchema, CallReportSchema, LeadReportQuerySchema, LeadReportSchema, MissedReportSchema,
    ReportQuerySchema,
)

bp = Blueprint("reports", __name__, url_prefix="/api/v1")
CSV_HELP = {"200": {"description": "JSON, or with `format=csv` a CSV file of the items"}}


class ReportResponse(Response):
    """A report as JSON, written by msgspec (`figures.encode_report`; 45,000 items), with its items counted for the audit."""

    items_count: int | None = None


def _audit(kind: str):
    return lambda result, _args: (f"report.{kind}", "report", None, getattr(result, "items_count", None))


def _scope(principal, args) -> dict:
    """The report's organisation, range and users, checked."""
    org = principal.user.organization
    first, last = args.get("from_"), args.get("to")
    if last is None:
        last = first + timedelta(days=29) if first else figures.default_range(db.session, org.id, clock_now())[1]
    first = first or last - timedelta(days=29)
    figures.check_range(first, last)
    users = figures.report_users(db.session, org.id, principal.user_id, principal.role, args.get("user_id"))
    return {"org": org, "first": first, "last": last, "users": users}


def _answer(scope, args, items, columns, name):
    if args["format"] == "csv":
        filename = f"{name}-{scope['first'].isoformat()}-{scope['last'].isoformat()}.csv"
        return Response(report_csv(items, columns), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    response = ReportResponse(figures.encode_report({
        "from": scope["first"].isoformat(), "to": scope["last"].isoformat(),
        "timezone": effective_settings(scope["org"])["timezone"], "items": items}), mimetype="application/json")
    response.items_count = len(items)
    return response


@operation(bp, "/reports/calls", "GET", auth=USER, query=CallReportQuerySchema, response=CallReportSchema,
           responses=CSV_HELP, audit=_audit("calls"), tags=["reports"], serialized=True)
def calls_report(principal, args):
    """Calls per user and day: counts by type, talk time, unique numbers, office-hours share."""
    scope = _scope(principal, args)
    items = figures.calls_report(db.session, scope["org"].id, first=scope["first"], last=scope["last"],
                                 user_ids=scope["users"], group=args["group"])
    return _answer(scope, args, items, (*figures.CALL_FIELDS[args["group"]], *figures.CALL_COLUMNS), "calls")


@operation(bp, "/reports/missed", "GET", auth=USER, query=ReportQuerySchema, response=MissedReportSchema,
           responses=CSV_HELP, audit=_audit("missed"), tags=["reports"], serialized=True)
def missed_report(principal, args):
    """Missed calls per user: returned (by anyone, even after `to`), unreturned, median time to call back."""
    scope = _scope(principal, args)
    items = figures.missed_report(db.session, scope["org"].id, first=scope["first"], last=scope["last"],
                                  user_ids=scope["users"])
    return _answer(scope, args, items, figures.MISSED_FIELDS, "missed")


@operation(bp, "/reports/leads", "GET", auth=USER, query=LeadReportQuerySchema, response=LeadReportSchema,
           responses=CSV_HELP, audit=_audit("leads"), tags=["reports"], serialized=True)
def leads_report(principal, args):
    """Leads created per source: approved, rejected, merged, pending; median time to first response."""
    scope = _scope(principal, args)
    items = figures.leads_report(db.session, scope["org"].id, first=scope["first"], last=scope["last"],
                                 user_ids=scope["users"])
    return _answer(scope, args, items, figures.LEAD_FIELDS, "leads")
