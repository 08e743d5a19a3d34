"""The import page `/contacts/import` (managers and admins): upload a file of
contacts, see the dry run (the format detected, the column mapping, counts,
the first errors with their line numbers), change the mapping with a select
per column, then import: the import runs as a background job and the
browser goes to its page `/contacts/imports/<id>`, which refreshes itself
(a meta refresh: the pages run no script) with the bytes read, the counts
and, when done, the first errors by line. The upload page lists the
organisation's recent imports.

The same domain function as `POST /api/v1/contacts/import`
(`contacts_csv.import_contact_file`), with the same query schema for the
mapping. Between the dry run and the import the upload waits in a private
temporary file named by a random token and the uploader's ids; on "Import"
it moves into the database (`contact_imports.start_import`), where a worker
on any machine reads it. A file left behind after UPLOAD_TTL_S is deleted
by the next upload.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time

from flask import abort, current_app, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from mobile_sync import contact_imports, contacts_csv
from mobile_sync.errors import ServiceError
from mobile_sync.roles import REVIEWERS
from schemas.contacts import MAPPING_FIELDS, ContactImportQuerySchema
from server.api.contacts import CSV_IMPORT_MAX_BYTES
from server.clock import now
from server.extensions import db
from server.jobs import import_contact_file
from server.queue import enqueue
from server.web import session_auth
from server.web.page_access import allow_reviewers, audit_read

UPLOAD_TTL_S = 3600
REFRESH_S = 2  # a running import's page reloads itself this often
RECENT_SHOWN = 10
IMPORT_JOB_TIMEOUT_S = 3600  # a 64 MB file on a busy worker: well past RQ's default 10 minutes
FORM_OVERHEAD = 64 * 1024  # the form's other fields and the multipart framing
ERRORS_SHOWN = 20
COLUMNS_SHOWN = 200  # selects on the page; a file with more columns keeps the detected mapping for the rest
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
FIELD_LABELS = {"name": "Name", "first_name": "First name", "middle_name": "Middle name", "last_name": "Last name",
                "company": "Company", "email": "E-mail", "source": "Source", "phones": "Phone number(s)"}


def register(bp) -> None:
    bp.add_url_rule("/contacts/import", "import_contacts", import_page, methods=["GET", "POST"])
    bp.add_url_rule("/contacts/import/<upload_id>", "import_upload", import_upload, methods=["POST"])
    bp.add_url_rule("/contacts/imports/<int:run_id>", "import_run", import_run_page)
    # Registered before the pages' guard, which reads the form (its CSRF field) and so the whole body.
    bp.before_request(_upload_limit)


def _upload_limit() -> None:
    """The import's own body limit (the file's, not MAX_CONTENT_LENGTH) for a
    manager's or admin's upload; anyone else keeps the app's small one."""
    if request.endpoint == "web.import_contacts" and request.method == "POST":
        user = session_auth.signed_in_user()
        if user is not None and user.role in REVIEWERS:
            request.max_content_length = _limit() + FORM_OVERHEAD


def _folder() -> str:
    folder = current_app.config.get("IMPORT_UPLOAD_DIR") or os.path.join(tempfile.gettempdir(), "callsync-imports")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def _path(token: str) -> str:
    """The upload's file: only its uploader (organisation and user) can name it."""
    if not _TOKEN.match(token):
        abort(404)
    user = g.web_user
    return os.path.join(_folder(), f"{user.organization_id}-{user.id}-{token}")


def _sweep(folder: str) -> None:
    """Forget uploads left behind (a dry run never followed by an import)."""
    cutoff = time.time() - UPLOAD_TTL_S
    for entry in os.scandir(folder):
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:
            pass


def _limit() -> int:
    return current_app.config.get("CSV_IMPORT_MAX_BYTES") or CSV_IMPORT_MAX_BYTES


def _run(path: str, mapping: dict | None, dry_run: bool):
    user, config = g.web_user, current_app.config
    owner_id = contacts_csv.import_owner(db.session, user.organization_id, user, None)
    with open(path, "rb") as stream:
        return contacts_csv.import_contact_file(
            db.session, org=user.organization, stream=stream, owner_id=owner_id, region=user.region,
            hash_key=config["HASH_KEY"], now=now(), checkpoint=db.session.commit, size=os.path.getsize(path),
            mapping=mapping, dry_run=dry_run,
            workers=config.get("CSV_IMPORT_WORKERS") or contacts_csv.default_workers())


def _upload_form(error: str | None = None, status: int = 200):
    recent = contact_imports.recent_imports(db.session, g.web_user.organization_id, RECENT_SHOWN)
    return render_template("web/import_upload.html", error=error, limit_mb=_limit() // (1024 * 1024),
                           recent=recent), status


def import_page():
    """The upload form; a file sent is kept for the import and dry-run at once."""
    allow_reviewers()
    if request.method == "GET":
        return _upload_form()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _upload_form("Choose a file: a CSV (ours, Google, Outlook, HubSpot, Pipedrive), a vCard or .xlsx.",
                            422)
    folder = _folder()
    _sweep(folder)
    token = secrets.token_urlsafe(24)
    path = _path(token)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        upload.save(out)
    return _preview(token, path, upload.filename, None)


def _preview(token: str, path: str, filename: str, mapping: dict | None):
    """The dry run of the kept file with `mapping` (None: the one detected);
    a mapping refused is said above the detected one's dry run."""
    error, status = None, 200
    try:
        report = _run(path, mapping, dry_run=True)
    except ServiceError as err:
        db.session.rollback()
        if mapping is None:  # the file itself cannot be imported
            os.unlink(path)
            return _upload_form(_message(err), err.status)
        error, status = _message(err), err.status
        return _preview_with_error(token, path, filename, error, status)
    audit_read("contact.import", "contact", None, 0)
    return _render_preview(token, filename, report, error, status)


def _preview_with_error(token, path, filename, error, status):
    report = _run(path, None, dry_run=True)
    audit_read("contact.import", "contact", None, 0)
    return _render_preview(token, filename, report, error, status)


def _render_preview(token, filename, report, error, status=200):
    columns = list((report.mapping if report else {}).items())[:COLUMNS_SHOWN]
    return render_template("web/import_preview.html", token=token, filename=filename, report=report,
                           columns=columns, fields=MAPPING_FIELDS, labels=FIELD_LABELS, error=error,
                           errors=(report.errors[:ERRORS_SHOWN] if report else [])), status


def _message(err: ServiceError) -> str:
    details = [f"{name}: {text}" for name, texts in (err.fields or {}).items()
               for text in (texts if isinstance(texts, list) else [texts])]
    return " ".join([err.message, *details])


def _mapping(form) -> dict:
    """The mapping the selects say, column → field (or null), read by the API's query schema."""
    mapping = {}
    for key, column in form.items():
        if key.startswith("col-"):
            chosen = form.get("map-" + key[4:], "")
            mapping[column] = chosen or None
    loaded = ContactImportQuerySchema().load({"mapping": json.dumps(mapping)} if mapping else {})
    return loaded.get("mapping")


def import_upload(upload_id: str):
    """`action=preview`: the dry run again with the mapping chosen; `action=import`: import the file with it."""
    allow_reviewers()
    token = upload_id
    path = _path(token)
    filename = request.form.get("filename", "the file")[:200]
    if not os.path.exists(path):
        return _upload_form("That upload is no longer here (imported already, or kept over an hour). "
                            "Choose the file again.", 404)
    try:
        mapping = _mapping(request.form)
    except ValidationError as err:
        text = " ".join(" ".join(map(str, v)) if isinstance(v, list) else str(v) for v in err.messages.values())
        return _preview_with_error(token, path, filename, text, 422)
    if request.form.get("action") != "import":
        return _preview(token, path, filename, mapping)
    user = g.web_user
    try:
        owner_id = contacts_csv.import_owner(db.session, user.organization_id, user, None)
        with open(path, "rb") as stream:
            run_id = contact_imports.start_import(
                db.session, org_id=user.organization_id, user_id=user.id, owner_id=owner_id, region=user.region,
                stream=stream, filename=filename, mapping=mapping, now=now())
    except ServiceError as err:
        db.session.rollback()
        return _preview_with_error(token, path, filename, _message(err), err.status)
    audit_read("contact.import", "contact", None, 0)
    db.session.commit()
    os.unlink(path)
    organization_id = user.organization_id
    # After the commit; ids only. Not queued (Redis down): the run fails now rather than wait for nothing.
    if not enqueue(import_contact_file, organization_id, run_id, job_timeout=IMPORT_JOB_TIMEOUT_S):
        contact_imports.give_up_unqueued(db.session, organization_id, run_id, now())
        db.session.commit()
    return redirect(url_for("web.import_run", run_id=run_id), 303)


def import_run_page(run_id: int):
    """An import's state, progress and counts; its first errors by line when done."""
    allow_reviewers()
    try:
        run = contact_imports.import_run(db.session, g.web_user.organization_id, run_id)
    except ServiceError:
        abort(404)
    running = run.state in ("queued", "running")
    recent = contact_imports.recent_imports(db.session, g.web_user.organization_id, RECENT_SHOWN)
    response = current_app.make_response(render_template(
        "web/import_run.html", run=run, running=running, refresh_s=REFRESH_S, recent=recent,
        percent=(100 * run.bytes_read // run.bytes_total) if run.bytes_total else 0))
    if running:
        response.headers["Refresh"] = str(REFRESH_S)
    return response
