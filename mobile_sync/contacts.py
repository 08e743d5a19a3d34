"""CRM contacts: create, read, update, delete (bulk CSV import: `contacts_csv`).

Every change of a contact's numbers goes through the phone index
(`set_record_phones`), so caller ID never names a deleted contact; what its
caller card shows is logged for the phones' offline directories by
`mobile_sync.store.directory_log`, on the numbers and on the flush.

Visibility: anyone in the organisation reads every contact; a rep changes
only the contacts they own; managers and admins change all of them.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from mobile_sync.erasure_check import refuse_erased
from mobile_sync.errors import forbidden, invalid, not_found
from mobile_sync.phone_index import parse_phones, record_numbers, remove_record_phones, set_record_phones
from mobile_sync.phones import region_for
from mobile_sync.plans import check_record_limit
from mobile_sync.record_pages import record_page, record_rows
from mobile_sync.roles import is_reviewer
from mobile_sync.store.list_pages import page_numbers
from mobile_sync.store.locks import lock_contacts
from mobile_sync.store.models import Call, Contact, Note, Organization, Task, User
from mobile_sync.webhooks.events import emit

RECORD_TYPE = "contact"
PAGE_SIZE = 50


# --- reading -----------------------------------------------------------------

def contact_dict(contact: Contact, phones: list[str]) -> dict:
    return {"id": contact.id, "name": contact.name, "company": contact.company, "email": contact.email,
            "source": contact.source, "owner_id": contact.owner_id, "phones": phones,
            "created_at": contact.created_at, "updated_at": contact.updated_at,
            "last_spoken_at": contact.last_spoken_at, "last_call_at": contact.last_call_at}


def get_contact(session, organization_id: int, contact_id: int, *, for_update: bool = False) -> Contact:
    """The contact, or 404 (also when it belongs to another organisation).
    `for_update`: its row locked to the commit and read as it is now, for
    a change: a deletion committed meanwhile (by a user, or by a CRM pull,
    `crm.deleted_people`) makes it a 404, and a deletion waits for the change."""
    if for_update:
        contact = next(iter(lock_contacts(session, organization_id, [contact_id])), None)
    else:
        contact = session.execute(select(Contact).where(
            Contact.id == contact_id, Contact.organization_id == organization_id)).scalar_one_or_none()
    if contact is None:
        raise not_found("contact")
    return contact


def read_contact(session, organization_id: int, contact_id: int) -> dict:
    contact = get_contact(session, organization_id, contact_id)
    return contact_dict(contact, record_numbers(session, organization_id, RECORD_TYPE, [contact.id])[contact.id])


def list_contacts(session, organization_id: int, *, page: int = 1, q: str | None = None, sort: str | None = None,
                  owner_id: int | None = None, region: str | None = None, limit: int = PAGE_SIZE) -> dict:
    """A page of contacts in the order of `sort` (mobile_sync.record_pages),
    found by `q` (mobile_sync.record_search; `region` reads a national number) or owner."""
    equal = (("organization_id", organization_id),) + ((("owner_id", owner_id),) if owner_id is not None else ())
    rows = record_page(session, record_rows(Contact, equal), Contact, RECORD_TYPE, organization_id, q=q,
                       region=region, sort=sort, offset=(page - 1) * limit, limit=limit + 1, equal=equal)
    more = len(rows) > limit
    rows = rows[:limit]
    phones = page_numbers(session, organization_id, RECORD_TYPE, [c.id for c in rows])
    return {"items": [contact_dict(c, phones[c.id]) for c in rows], "next_page": page + 1 if more else None}


# --- writing -----------------------------------------------------------------

def check_active_user(session, organization_id: int, user_id: int) -> None:
    found = session.execute(
        select(User.id).where(User.id == user_id, User.organization_id == organization_id,
                              User.disabled_at.is_(None))
    ).first()
    if found is None:
        raise invalid({"owner_id": ["No such user in your organisation."]}, "No such owner in your organisation.")


def check_owner(session, organization_id: int, user: User, owner_id: int | None) -> int | None:
    """`owner_id` if `user` may give a contact to that owner: a rep only to
    themselves; a manager or admin to any active user of the organisation."""
    if owner_id == user.id:
        return owner_id
    if not is_reviewer(user.role):
        raise forbidden("Only managers and admins may give a contact to another owner.")
    if owner_id is not None:
        check_active_user(session, organization_id, owner_id)
    return owner_id


def _check_may_change(user: User, contact: Contact) -> None:
    if not is_reviewer(user.role) and contact.owner_id != user.id:
        raise forbidden("Reps may change only the contacts they own.")


def create_contact(session, *, org: Organization, user: User, fields: dict, now: datetime, hash_key: str) -> dict:
    """Add a contact with its numbers to the phone index; the owner defaults to `user`."""
    owner_id = check_owner(session, org.id, user, fields["owner_id"]) if "owner_id" in fields else user.id
    numbers = parse_phones(fields["phones"], region_for(user.region, org.region))
    refuse_erased(session, org.id, numbers, hash_key)
    check_record_limit(session, org, 1)
    contact = Contact(organization_id=org.id, name=fields["name"], company=fields.get("company"),
                      email=fields.get("email"), source=fields.get("source"), owner_id=owner_id,
                      created_at=now, updated_at=now)
    session.add(contact)
    session.flush()
    phones = set_record_phones(session, organization_id=org.id, record_type=RECORD_TYPE, record_id=contact.id,
                               numbers=numbers, now=now, raw=fields["phones"])
    emit(session, org.id, "contact.created", {"contact_id": contact.id}, now)
    return contact_dict(contact, phones)


def update_contact(session, *, org: Organization, user: User, contact_id: int, changes: dict,
                   now: datetime, hash_key: str) -> dict:
    """Change a contact; `phones`, when given, replaces its numbers."""
    contact = get_contact(session, org.id, contact_id, for_update=True)
    _check_may_change(user, contact)
    if "owner_id" in changes and changes["owner_id"] != contact.owner_id:
        check_owner(session, org.id, user, changes["owner_id"])
    numbers = parse_phones(changes["phones"], region_for(user.region, org.region)) if "phones" in changes else None
    if numbers:
        refuse_erased(session, org.id, numbers, hash_key)
    for key, value in changes.items():
        if key != "phones" and getattr(contact, key) != value:
            setattr(contact, key, value)
    contact.updated_at = now
    session.flush()
    if numbers is not None:
        phones = set_record_phones(session, organization_id=org.id, record_type=RECORD_TYPE,
                                   record_id=contact.id, numbers=numbers, now=now, raw=changes["phones"])
    else:
        phones = record_numbers(session, org.id, RECORD_TYPE, [contact.id])[contact.id]
    emit(session, org.id, "contact.updated", {"contact_id": contact.id}, now)
    return contact_dict(contact, phones)


def delete_contact(session, *, organization_id: int, user: User, contact_id: int, now: datetime) -> None:
    """Delete a contact: its numbers leave the phone index (caller ID stops
    naming it), its calls are no longer linked to it, and its notes and
    call-back tasks go with it."""
    contact = get_contact(session, organization_id, contact_id, for_update=True)
    _check_may_change(user, contact)
    remove_contact(session, contact, now)


def remove_contact(session, contact: Contact, now: datetime) -> None:
    """`delete_contact` once who may is settled (or for the service itself:
    a person deleted in the CRM, `mobile_sync.crm.deleted_people`)."""
    organization_id, contact_id = contact.organization_id, contact.id
    remove_record_phones(session, organization_id=organization_id, record_type=RECORD_TYPE, record_id=contact.id,
                         now=now)
    session.execute(update(Call).where(Call.organization_id == organization_id, Call.record_type == RECORD_TYPE,
                                       Call.record_id == contact.id).values(record_type=None, record_id=None))
    for model in (Note, Task):
        session.execute(delete(model).where(model.organization_id == organization_id,
                                            model.record_type == RECORD_TYPE, model.record_id == contact.id))
    session.delete(contact)
    session.flush()
    emit(session, organization_id, "contact.deleted", {"contact_id": contact_id}, now)
