"""CRM contacts: CRUD and CSV import."""
from __future__ import annotations


from flask import Blueprint, current_app, request

from mobile_sync import contact_imports, contacts, contacts_csv
from mobile_sync.list_export import CONTACT_COLUMNS, contact_row
from mobile_sync.roles import REP, REVIEWERS
from schemas.contacts import (
    ContactCreateSchema, ContactImportQuerySchema, ContactImportResultSchema, ContactListQuerySchema,
    ContactPageSchema, ContactSchema, ContactUpdateSchema,
)
from schemas.contact_imports import ContactImportListSchema, ContactImportRunSchema
from schemas.list_dump import dumper
from schemas.lists import ListQuerySchema
from server.api.list_export import csv_download, csv_responses, list_audit
from server.api.routing import operation
from server.auth import ANY, USER
from server.clock import now
from server.errors import ApiError
from server.extensions import db

bp = Blueprint("contacts", __name__, url_prefix="/api/v1")
# A page answered as ContactPageSchema dumps it (`serialized`: schemas.list_dump).
_dump_page = dumper(ContactPageSchema)

CSV_IMPORT_MAX_BYTES = 64 * 1024 * 1024
# Bodies that are not a file: the format of one is told from its content, whatever its type.
REFUSED_TYPES = ("application/json", "application/x-www-form-urlencoded")
_FILE = {"type": "string", "format": "binary"}
# What the document says an import may be sent as (the format is told from the content).
IMPORT_BODIES = {
    "multipart/form-data": {"type": "object", "required": ["file"], "properties": {"file": _FILE}},
    "text/vcard": {"type": "string"},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _FILE,
    "application/octet-stream": _FILE,
}


@operation(bp, "/contacts", "GET", auth=ANY, query=ContactListQuerySchema, response=ContactPageSchema,
           responses=csv_responses(ContactPageSchema), audit=list_audit("contact"), serialized=True, reads_only=True)
def list_contacts(principal, args):
    """The organisation's contacts, newest first (or by `sort`), found by `q`.
    `format=csv`: every matching contact as CSV (a rep's download holds the
    contacts they own: a whole customer list leaves only with a manager's or admin's)."""
    region = principal.user_region or principal.organization.region
    if args.pop("format") == "csv":
        filters = {k: v for k, v in args.items() if k not in ("page", "limit")}
        if principal.role == REP:
            filters["owner_id"] = principal.user_id

        def pages(page, limit):
            found = contacts.list_contacts(db.session, principal.organization_id, region=region, page=page,
                                           limit=limit, **filters)
            return found["items"], found["next_page"]
        return csv_download(principal, "contact", pages, CONTACT_COLUMNS, contact_row)
    return _dump_page(contacts.list_contacts(db.session, principal.organization_id, region=region, **args))


@operation(bp, "/contacts", "POST", auth=USER, body=ContactCreateSchema, response=ContactSchema, status=201)
def create_contact(principal, body):
    """Add a contact; its numbers are answered in E.164 and caller ID names it."""
    return contacts.create_contact(db.session, org=principal.user.organization, user=principal.user, fields=body,
                                   now=now(), hash_key=current_app.config["HASH_KEY"])


@operation(bp, "/contacts/<int:contact_id>", "GET", auth=ANY, response=ContactSchema, audit="contact.read")
def get_contact(principal, contact_id):
    """One contact with its numbers."""
    return contacts.read_contact(db.session, principal.organization_id, contact_id)


@operation(bp, "/contacts/<int:contact_id>", "PATCH", auth=USER, body=ContactUpdateSchema, response=ContactSchema,
           audit="contact.update")
def update_contact(principal, body, contact_id):
    """Change a contact (reps: their own); `phones` replaces its numbers."""
    return contacts.update_contact(db.session, org=principal.user.organization, user=principal.user,
                                   contact_id=contact_id, changes=body, now=now(),
                                   hash_key=current_app.config["HASH_KEY"])


@operation(bp, "/contacts/<int:contact_id>", "DELETE", auth=USER, status=204, audit="contact.delete")
def delete_contact(principal, contact_id):
    """Delete a contact (reps: their own); caller ID stops naming its numbers."""
    contacts.delete_contact(db.session, organization_id=principal.organization_id, user=principal.user,
                            contact_id=contact_id, now=now())


def _import_limit() -> int:
    return current_app.config.get("CSV_IMPORT_MAX_BYTES") or CSV_IMPORT_MAX_BYTES


@operation(bp, "/contacts/import", "POST", auth=USER, roles=REVIEWERS, query=ContactImportQuerySchema,
           response=ContactImportResultSchema, request_content_type="text/csv", max_body_bytes=_import_limit,
           stream_body=True, request_bodies=IMPORT_BODIES,
           audit=lambda report, _: ("contact.import", "contact", None, 0 if report.dry_run else report.imported))
def import_contacts(principal, raw_body, args):
    """Import contacts from a file: our CSV, Google/Outlook/HubSpot/Pipedrive CSV, vCard or .xlsx.

    The format is told from the content; the body is the file, or a
    multipart/form-data upload with the file in `file`. `dry_run=true`
    answers the format, the mapping and the counts, storing nothing. The
    file is imported by blocks, each committed: a failure keeps the blocks
    before it, and importing the file again adds only the rest; a file that
    cannot be imported at all stores nothing."""
    if request.mimetype in REFUSED_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       "Send the file itself as the body (text/csv, text/vcard, .xlsx) or as multipart/form-data.")
    user, config = principal.user, current_app.config
    owner_id = contacts_csv.import_owner(db.session, principal.organization_id, user, args.get("owner_id"))
    # The body's stream (`stream_body`), read as it arrives, or the upload Werkzeug spooled to disk.
    stream, size = raw_body, request.content_length
    if request.mimetype == "multipart/form-data":
        db.session.commit()  # the request's own writes: the upload is received holding no lock
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(422, "invalid_fields", "Send the file in a form field named file.",
                           fields={"file": ["Missing."]})
        stream, size = upload.stream, None
    return contacts_csv.import_contact_file(
        db.session, org=user.organization, stream=stream, owner_id=owner_id, region=user.region,
        hash_key=config["HASH_KEY"], now=now(), checkpoint=db.session.commit, size=size,
        mapping=args.get("mapping"), dry_run=args["dry_run"],
        workers=config.get("CSV_IMPORT_WORKERS") or contacts_csv.default_workers())


@operation(bp, "/contacts/imports", "GET", auth=USER, roles=REVIEWERS, query=ListQuerySchema,
           response=ContactImportListSchema)
def list_contact_imports(principal, args):
    """Imports started on the import page, newest first, with their state and counts."""
    items, next_page = contact_imports.imports_page(db.session, principal.organization_id, **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/contacts/imports/<int:import_id>", "GET", auth=USER, roles=REVIEWERS, response=ContactImportRunSchema)
def get_contact_import(principal, import_id):
    """An import started on the import page: its state, progress (bytes read of the total) and counts."""
    return contact_imports.import_run(db.session, principal.organization_id, import_id)
