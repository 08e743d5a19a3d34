"""`format=csv` on the lists (leads, contacts, calls): the list's rows,
every one its filters find, streamed as they are read
(`mobile_sync.list_export`), written to the access audit as an export with
the number of rows that went."""
from __future__ import annotations

from flask import Response, current_app, stream_with_context

from mobile_sync.list_export import EXPORT_CAP, Pages, csv_lines
from server.audit import push_pending_events, record_access
from server.clock import now
from server.extensions import db

CAP_HEADER = "X-Row-Cap"


def csv_responses(page_schema) -> dict:
    """The OpenAPI answer of a list that also downloads as CSV."""
    return {"200": {
        "description": f"A page (JSON), or with `format=csv` every matching row as CSV (at most {EXPORT_CAP:,}; "
                       f"the `{CAP_HEADER}` header says the cap and a cut download's last line says so).",
        "content": {"application/json": {"schema": page_schema},
                    "text/csv": {"schema": {"type": "string"}}},
        "headers": {CAP_HEADER: {"description": "The most rows a CSV download holds.",
                                 "schema": {"type": "integer"}}},
    }}


def list_audit(kind: str):
    """The list's audit: a page read as `<kind>.list`; a CSV download audits itself when it ends."""
    def details(result, _path_args):
        if isinstance(result, Response):
            return None
        return f"{kind}.list", kind, None, len(result["items"])
    return details


def csv_download(principal, kind: str, pages: Pages, columns: tuple[str, ...], row_of) -> Response:
    """A streamed CSV of every row `pages` gives (at most LIST_EXPORT_CAP);
    `<kind>.export` goes into the access audit, with the rows sent, once the
    download ends."""
    cap = current_app.config.get("LIST_EXPORT_CAP") or EXPORT_CAP

    def done(rows: int) -> None:
        record_access(principal, f"{kind}.export", kind, None, rows)
        db.session.commit()
        push_pending_events()

    filename = f"callsync-{kind}s-{now():%Y%m%dT%H%M%SZ}.csv"
    return Response(stream_with_context(csv_lines(pages, columns, row_of, cap=cap, done=done)),
                    mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                                  CAP_HEADER: str(cap)})
