"""Erasing a person from one of their records (admins): `/records/<lead or
contact>/<id>/erase` shows exactly what an erasure will delete (the records,
the numbers, and how many calls, notes and tasks go), then a confirm button
erases with the API's own domain function (`POST /api/v1/erasure`), and the
page shows what went.

The preview and the erasure come from one rule: `mobile_sync.erasure`
selects what an erasure covers (`record_scope`) once, for both; the
preview counts it with the erasure's own conditions.
"""
from __future__ import annotations

from flask import abort, current_app, g, render_template, request

from mobile_sync import erasure
from schemas.data_rights import ERASABLE_RECORD_TYPES
from server.audit import push_pending_events, record_access
from server.clock import now
from server.extensions import db
from server.web.page_access import allow_admins, page_principal

SHOWN = 50  # records named on the page; the counts hold them all


def register(bp) -> None:
    bp.add_url_rule("/records/<string:record_type>/<int:record_id>/erase", "erase_record", erase_page,
                    methods=["GET", "POST"])


def _back(record_type: str, record_id: int) -> str:
    return f"/{record_type}s/{record_id}"


def erase_page(record_type: str, record_id: int):
    """GET: the preview and the confirm button. POST: erase, then the counts."""
    allow_admins("erase a person")
    if record_type not in ERASABLE_RECORD_TYPES:
        abort(404)
    org, hash_key = g.web_user.organization, current_app.config["HASH_KEY"]
    principal = page_principal()
    if request.method == "POST":
        result = erasure.erase_record(db.session, org=org, record_type=record_type, record_id=record_id,
                                      hash_key=hash_key, now=now())
        record_access(principal, "person.erase", record_type, record_id, result.total_deleted)
        db.session.commit()
        push_pending_events()
        return render_template("web/erase_done.html", result=result, record_type=record_type)
    preview = erasure.preview_record(db.session, org=org, record_type=record_type, record_id=record_id)
    record_access(principal, "person.erase_preview", record_type, record_id, preview.total_deleted)
    db.session.commit()
    push_pending_events()
    return render_template("web/erase.html", preview=preview, record_type=record_type, record_id=record_id,
                           shown=SHOWN, back=_back(record_type, record_id))

