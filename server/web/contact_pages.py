"""The contacts pages (managers and admins; a rep gets the 403 page, another
organisation's contact the 404 page): `/contacts` (search, order, pages, a
CSV download of what the filters find), a contact's page with its numbers,
calls, tasks and notes, and create, edit and delete.

Views of the pages' blueprint (`register` adds them in server/web/views.py),
so its CSRF check, session login and error pages apply. Forms are read with
the API's schemas (schemas.contacts) and saved by the API's domain functions
(mobile_sync.contacts), committed once. `register` also adds the import
page, the erasure pages and the small `/calls` page.
"""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError

from mobile_sync import accounts, contacts, leads
from mobile_sync.contact_details import contact_page_details
from mobile_sync.errors import ServiceError
from mobile_sync.list_export import CONTACT_COLUMNS, contact_row
from schemas.contacts import ContactCreateSchema, ContactListQuerySchema, ContactUpdateSchema
from schemas.leads import NoteCreateSchema
from server.api.list_export import csv_download
from server.clock import now
from server.extensions import db
from server.web import erasure_pages, import_pages, list_pages
from server.web.contact_forms import contact_body, errors_of, form_values, split_numbers
from server.web.forms import SORT_LABELS
from server.web.page_access import allow_reviewers, audit_read, page_principal

LIST_ARGS = ("q", "sort")


def register(bp) -> None:
    bp.add_url_rule("/contacts", "contacts", contacts_page)
    bp.add_url_rule("/contacts/export.csv", "contacts_csv", contacts_csv)
    bp.add_url_rule("/contacts/new", "new_contact", new_contact, methods=["GET", "POST"])
    bp.add_url_rule("/contacts/<int:contact_id>", "contact_page", contact_page)
    bp.add_url_rule("/contacts/<int:contact_id>/edit", "edit_contact", edit_contact, methods=["GET", "POST"])
    bp.add_url_rule("/contacts/<int:contact_id>/delete", "delete_contact", delete_contact, methods=["GET", "POST"])
    bp.add_url_rule("/contacts/<int:contact_id>/notes", "add_contact_note", add_contact_note, methods=["POST"])
    import_pages.register(bp)  # /contacts/import
    erasure_pages.register(bp)  # /records/<type>/<id>/erase
    list_pages.register(bp)  # /calls, and the CSV of the leads the review queue finds


def _region() -> str | None:
    user = g.web_user
    return user.region or user.organization.region


def _list_args(args) -> dict:
    """The page's search and order (and page), read by the API's list schema."""
    given = {name: args[name] for name in (*LIST_ARGS, "page") if args.get(name)}
    return ContactListQuerySchema().load(given)


# --- the list ---------------------------------------------------------------

def contacts_page():
    """Contacts, newest first (or by name or latest call), found by the search box, a page at a time."""
    allow_reviewers()
    error, args = None, {}
    try:
        args = _list_args(request.args)
    except ValidationError as err:
        error = " ".join(f"{name}: {' '.join(map(str, text))}" for name, text in err.messages.items())
    found = {"items": [], "next_page": None}
    page = args.get("page", 1)
    if error is None:
        found = contacts.list_contacts(db.session, g.web_user.organization_id, region=_region(), page=page,
                                       q=args.get("q"), sort=args.get("sort"), limit=contacts.PAGE_SIZE)
    users = accounts.list_users(db.session)
    audit_read("contact.list", "contact", count=len(found["items"]))
    filters = {name: request.args.get(name, "") for name in LIST_ARGS}
    kept = {k: v for k, v in filters.items() if v}
    page = render_template("web/contacts.html", contacts=found["items"], next_page=found["next_page"], page=page,
                           owners={u.id: u for u in users}, filters=filters, kept=kept, sorts=SORT_LABELS,
                           error=error)
    return page, 422 if error else 200


def contacts_csv():
    """Every contact the page's search finds, as CSV (the API's `format=csv`)."""
    allow_reviewers()
    try:
        args = _list_args(request.args)
    except ValidationError:
        return redirect(url_for("web.contacts"))
    args.pop("page", None), args.pop("limit", None), args.pop("format", None)
    organization_id, region = g.web_user.organization_id, _region()

    def pages(page, limit):
        found = contacts.list_contacts(db.session, organization_id, region=region, page=page, limit=limit, **args)
        return found["items"], found["next_page"]
    return csv_download(page_principal(), "contact", pages, CONTACT_COLUMNS, contact_row)


# --- one contact --------------------------------------------------------------

def contact_page(contact_id: int):
    """A contact: details, every number, calls in the viewer's zone, tasks and notes."""
    allow_reviewers()
    details = contact_page_details(db.session, g.web_user.organization_id, contact_id)
    users = accounts.list_users(db.session)
    audit_read("contact.read", "contact", contact_id)
    return render_template("web/contact.html", owners={u.id: u for u in users},
                           can_erase=g.web_user.role == "admin", **details)


def add_contact_note(contact_id: int):
    """A note on the contact (the API's notes schema and domain function); it becomes its last note."""
    allow_reviewers()
    contacts.get_contact(db.session, g.web_user.organization_id, contact_id)  # another organisation's: 404 page
    try:
        body = NoteCreateSchema(unknown=EXCLUDE).load(request.form.to_dict())
        leads.add_note(db.session, user=g.web_user, record_type=contacts.RECORD_TYPE, record_id=contact_id,
                       text=body["text"], now=now())
    except ValidationError:
        db.session.rollback()
        flash("Write the note first (at most 5,000 characters).", "error")
    else:
        db.session.commit()
        flash("Note added.", "ok")
    return redirect(url_for("web.contact_page", contact_id=contact_id))


def _form_page(template_args: dict, status: int = 200):
    users = [u for u in accounts.list_users(db.session) if u.disabled_at is None]
    return render_template("web/contact_form.html", users=users, **template_args), status


def new_contact():
    """The form for a new contact; saved by the API's create_contact."""
    allow_reviewers()
    if request.method == "GET":
        return _form_page({"contact": None, "form": form_values(owner_id=g.web_user.id), "errors": {}})
    form = request.form.to_dict()
    raw = split_numbers(form.get("phones", ""))
    try:
        body = ContactCreateSchema().load(contact_body(request.form))
        created = contacts.create_contact(db.session, org=g.web_user.organization, user=g.web_user, fields=body,
                                          now=now(), hash_key=current_app.config["HASH_KEY"])
    except (ValidationError, ServiceError) as err:
        db.session.rollback()
        status = err.status if isinstance(err, ServiceError) else 422
        return _form_page({"contact": None, "form": form, "errors": errors_of(err, raw)}, status)
    audit_read("contact.create", "contact", created["id"])
    flash(f"Contact {created['name']} added.", "ok")
    return redirect(url_for("web.contact_page", contact_id=created["id"]))


def edit_contact(contact_id: int):
    """A contact's form; saved by the API's update_contact (the numbers typed replace its numbers)."""
    allow_reviewers()
    details = contact_page_details(db.session, g.web_user.organization_id, contact_id)
    contact = details["contact"]
    if request.method == "GET":
        return _form_page({"contact": contact, "form": form_values(contact, details["numbers"]), "errors": {}})
    form = request.form.to_dict()
    raw = split_numbers(form.get("phones", ""))
    try:
        # The form always sends its numbers: they replace the contact's, and none is refused.
        body = ContactUpdateSchema().load(contact_body(request.form))
        contacts.update_contact(db.session, org=g.web_user.organization, user=g.web_user, contact_id=contact_id,
                                changes=body, now=now(), hash_key=current_app.config["HASH_KEY"])
    except (ValidationError, ServiceError) as err:
        db.session.rollback()
        status = err.status if isinstance(err, ServiceError) else 422
        return _form_page({"contact": contact, "form": form, "errors": errors_of(err, raw)}, status)
    audit_read("contact.update", "contact", contact_id)
    flash("Contact saved.", "ok")
    return redirect(url_for("web.contact_page", contact_id=contact_id))


def delete_contact(contact_id: int):
    """A page that asks first; the button deletes with the API's delete_contact."""
    allow_reviewers()
    contact = contacts.get_contact(db.session, g.web_user.organization_id, contact_id)
    if request.method == "GET":
        return render_template("web/contact_delete.html", contact=contact)
    name = contact.name
    contacts.delete_contact(db.session, organization_id=g.web_user.organization_id, user=g.web_user,
                            contact_id=contact_id, now=now())
    audit_read("contact.delete", "contact", contact_id)
    flash(f"Contact {name} deleted; caller ID no longer names its numbers.", "ok")
    return redirect(url_for("web.contacts"))
