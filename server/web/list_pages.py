"""Lists as pages and downloads (managers and admins): `/calls` (the stored
call log, found by the search box, by rep and dates, a page at a time) and
the CSV of every row a page's filters find: `/calls/export.csv`, and
`/leads/export.csv` for the review queue's filters. Each reads the list's
API schema and domain function; downloads stream through the API's
`format=csv` (server.api.list_export)."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from mobile_sync import accounts, call_log, leads
from mobile_sync.errors import ServiceError
from mobile_sync.list_export import CALL_COLUMNS, LEAD_COLUMNS, call_row, lead_row
from mobile_sync.org_settings import effective_settings
from schemas.calls import CallListQuerySchema
from server.api.list_export import csv_download
from server.extensions import db
from server.web.forms import ANY_STATUS, load_filters, start_of_day
from server.web.page_access import allow_reviewers, audit_read, page_principal

CALL_ARGS = ("q", "user_id", "from", "to")
PAGE_SIZE = 50


def register(bp) -> None:
    bp.add_url_rule("/calls", "calls", calls_page)
    bp.add_url_rule("/calls/export.csv", "calls_csv", calls_csv)
    bp.add_url_rule("/leads/export.csv", "leads_csv", leads_csv)


def _call_scope(args) -> tuple[dict, dict]:
    """(the domain's scope, the filters) of the page's query, read by the API's schema."""
    org = g.web_user.organization
    given = {name: args[name] for name in (*CALL_ARGS, "page") if args.get(name)}
    loaded = CallListQuerySchema().load(given)
    loaded.pop("format", None), loaded.pop("limit", None)
    scope = {"organization_id": org.id, "tz": ZoneInfo(effective_settings(org)["timezone"]),
             "region": g.web_user.region or org.region}
    return scope, loaded


def calls_page():
    """The call log: who called whom, when (the viewer's zone), which way and how long."""
    allow_reviewers()
    error, items, next_page, page = None, [], None, 1
    try:
        scope, filters = _call_scope(request.args)
        page = filters.pop("page", 1)
        items, next_page = call_log.list_calls(db.session, page=page, limit=PAGE_SIZE, **scope, **filters)
    except ValidationError as err:
        error = "; ".join(f"{name.rstrip('_')}: {' '.join(map(str, text))}" for name, text in err.messages.items())
    except ServiceError as err:
        db.session.rollback()
        error = " ".join(m for ms in (err.fields or {}).values() for m in ms) or err.message
    users = accounts.list_users(db.session)
    audit_read("call.list", "call", count=len(items))
    filters = {name: request.args.get(name, "") for name in CALL_ARGS}
    kept = {k: v for k, v in filters.items() if v}
    return render_template("web/calls.html", calls=items, next_page=next_page, page=page, users=users,
                           owners={u.id: u for u in users}, filters=filters, kept=kept, error=error), \
        422 if error else 200


def calls_csv():
    """Every call the /calls page's filters find, as CSV."""
    allow_reviewers()
    try:
        scope, filters = _call_scope(request.args)
    except ValidationError:
        return redirect(url_for("web.calls"))
    filters.pop("page", None)

    def pages(page, limit):
        return call_log.list_calls(db.session, page=page, limit=limit, **scope, **filters)
    return csv_download(page_principal(), "call", pages, CALL_COLUMNS, call_row)


def leads_csv():
    """Every lead the review queue's filters (its query string) find, as CSV."""
    allow_reviewers()
    filters, _ = load_filters(request.args)
    since = start_of_day(filters["since"], g.web_tz) if filters.get("since") else None
    status = None if filters["status"] == ANY_STATUS else filters["status"]
    user = g.web_user

    def pages(page, limit):
        items, next_page, _ = leads.list_leads(db.session, user=user, status=status, owner_id=filters.get("owner_id"),
                                               source=filters.get("source"), since=since, q=filters.get("q"),
                                               sort=filters.get("sort"), page=page, limit=limit, with_counts=False)
        return items, next_page
    return csv_download(page_principal(), "lead", pages, LEAD_COLUMNS, lead_row)
