"""The `/reports` page (managers and admins; a rep gets the 403 page): the
three reports of the API over a range of days, each as a server-rendered
SVG chart with its table under it and a CSV download of that table.

The page reads the same domain functions as `GET /api/v1/reports/*`
(mobile_sync.reports.figures), with the same query (schemas.reports), so the
page, its downloads and the API cannot disagree.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from flask import Response, g, render_template, request
from marshmallow import ValidationError

from mobile_sync.errors import ServiceError
from mobile_sync.org_settings import effective_settings
from mobile_sync.reports import figures
from mobile_sync.reports.csv_table import report_csv
from schemas.reports import ReportQuerySchema
from server.clock import now
from server.extensions import db
from server.web.svg_charts import stacked_bars, stacked_columns
from server.web.page_access import allow_reviewers

REPS_TOLD = "Reports are for managers and admins; reps see their own figures in the phone app."

KINDS = ("calls-by-day", "calls-by-rep", "missed", "leads")


def register(bp) -> None:
    bp.add_url_rule("/reports", "reports", reports_page)
    bp.add_url_rule("/reports/<kind>.csv", "report_download", report_download)


def _scope(args: dict) -> tuple:
    """(first, last, user ids or None) from the page's query, checked."""
    org_id = g.web_user.organization_id
    query = {k: v for k, v in args.items() if k in ("from", "to", "user_id") and v != ""}
    loaded = ReportQuerySchema().load(query)
    last = loaded.get("to")
    first = loaded.get("from_")
    if last is None:
        last = first + timedelta(days=29) if first else figures.default_range(db.session, org_id, now())[1]
    first = first or last - timedelta(days=29)
    figures.check_range(first, last)
    users = figures.report_users(db.session, org_id, g.web_user.id, g.web_user.role, loaded.get("user_id"))
    return first, last, users


def _error_text(err) -> str:
    if isinstance(err, ValidationError):
        messages = err.messages if isinstance(err.messages, dict) else {"query": err.messages}
        return "; ".join(f"{name.replace('from_', 'from')}: {' '.join(map(str, text))}"
                         for name, text in messages.items())
    return err.message


def _table(kind: str, first, last, users) -> list:
    session, org_id = db.session, g.web_user.organization_id
    scope = {"first": first, "last": last, "user_ids": users}
    if kind == "calls-by-day":
        return figures.calls_report(session, org_id, group="day", **scope)
    if kind == "calls-by-rep":
        return figures.calls_report(session, org_id, group="user", **scope)
    if kind == "missed":
        return figures.missed_report(session, org_id, **scope)
    return figures.leads_report(session, org_id, **scope)


def _tables(first, last, users) -> dict:
    return {kind: _table(kind, first, last, users) for kind in KINDS}


TONES = {"incoming": "tone-in", "outgoing": "tone-out", "missed": "tone-missed", "rejected": "tone-other",
         "connected": "tone-out", "not connected": "tone-other", "returned": "tone-out",
         "never returned": "tone-missed", "approved": "tone-out", "pending": "tone-in", "merged": "tone-other"}


def _series(*pairs) -> list[tuple]:
    return [(name, values, TONES.get(name, "tone-missed" if name == "rejected" else "tone-other"))
            for name, values in pairs]


def _charts(tables: dict, names: dict) -> dict:
    by_day, by_rep, missed, leads = tables["calls-by-day"], tables["calls-by-rep"], tables["missed"], tables["leads"]

    def name_of(item):
        return names.get(item.user_id, f"User {item.user_id}")

    return {
        "calls-by-day": stacked_columns(
            [i.day[5:] for i in by_day],
            _series(*((name, [getattr(i, name) for i in by_day]) for name in ("incoming", "outgoing", "missed",
                                                                                "rejected"))),
            title="Calls per day by type"),
        "calls-by-rep": stacked_bars(
            [name_of(i) for i in by_rep],
            _series(("connected", [i.connected for i in by_rep]),
                    ("not connected", [i.incoming + i.outgoing + i.missed + i.rejected - i.connected for i in by_rep])),
            title="Calls per rep, connected or not"),
        "missed": stacked_bars(
            [name_of(i) for i in missed],
            _series(("returned", [i.returned for i in missed]), ("never returned", [i.unreturned for i in missed])),
            title="Missed calls per rep, returned or not"),
        "leads": stacked_bars(
            [i.source.replace("_", " ") for i in leads],
            _series(*((name, [getattr(i, name) for i in leads]) for name in ("approved", "pending", "rejected",
                                                                               "merged"))),
            title="Leads by source and what became of them"),
    }


def reports_page():
    """Charts and tables of the range; bad input is said at the top (422)."""
    allow_reviewers(REPS_TOLD)
    org_id = g.web_user.organization_id
    names = figures.member_names(db.session, org_id)
    form = {name: request.args.get(name, "") for name in ("from", "to", "user_id")}
    try:
        first, last, users = _scope(request.args)
    except (ValidationError, ServiceError) as err:
        if isinstance(err, ServiceError) and err.status in (403, 404):
            raise
        return render_template("web/reports.html", error=_error_text(err), form=form, names=names, tables=None,
                               charts=None, kinds=KINDS), 422
    tables = _tables(first, last, users)
    form.update({"from": first.isoformat(), "to": last.isoformat()})
    download_query = urlencode({name: value for name, value in form.items() if value})
    return render_template("web/reports.html", error=None, form=form, names=names, tables=tables,
                           download_query=download_query,
                           charts=_charts(tables, names), kinds=KINDS,
                           org_zone=effective_settings(g.web_user.organization)["timezone"])


def report_download(kind: str):
    """One table of the page as CSV, for the same range and people."""
    allow_reviewers(REPS_TOLD)
    if kind not in KINDS:
        raise ServiceError(404, "not_found", "There is no such report.")
    first, last, users = _scope(request.args)
    items = _table(kind, first, last, users)
    columns = {"calls-by-day": (*figures.CALL_FIELDS["day"], *figures.CALL_COLUMNS),
               "calls-by-rep": (*figures.CALL_FIELDS["user"], *figures.CALL_COLUMNS),
               "missed": figures.MISSED_FIELDS, "leads": figures.LEAD_FIELDS}[kind]
    return Response(report_csv(items, columns), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{kind}-{first.isoformat()}-{last.isoformat()}.csv"'})

