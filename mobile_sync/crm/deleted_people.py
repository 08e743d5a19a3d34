"""People deleted (or merged into another) in a CRM, undone here by the pull.

The person's link goes. The contact the pull made from that person, and that
nobody here has added to since, is deleted the way a user deletes a contact
(`mobile_sync.contacts.remove_contact`, what `delete_contact` does once it
has checked the user: the phone index, caller ID, the
phones' directories and the `contact.deleted` webhook follow). Any other
contact the person was linked to only loses the numbers the CRM gave it (the
link's keyed hashes), as when the CRM takes a number off a person: a contact
that was here before and that the pull merged the person into, or one a rep
wrote something on. A deletion in the CRM never deletes what a rep typed;
when the contact cannot be told untouched, it is kept.

Untouched means all of: its source is the CRM and nobody owns it (the pull
makes contacts with no owner; one a rep takes is theirs); no other person
(of any connection) is still linked to it; each of its numbers is one the
CRM gave; its name, company and e-mail are what the CRM last said (or
empty); no note, no task, no last note. A rep's edit the pull later
overwrote (a rename in the CRM) counts as overwritten already."""
from __future__ import annotations

from datetime import datetime

from mobile_sync.contacts import remove_contact
from mobile_sync.crm.client import CrmPerson
from mobile_sync.crm.pulled_people import NAME_MAX, RECORD_TYPE, take_off_pulled_numbers
from mobile_sync.number_hash import CRM_PULLED, number_hash
from mobile_sync.phone_index import record_numbers
from mobile_sync.store.crm_person_links import linked_contacts, pulled_numbers_of, unlink_people
from mobile_sync.store.locks import lock_contacts
from mobile_sync.store.models import Contact, Organization
from mobile_sync.store.records_with_notes import records_with_notes_or_tasks


def forget_people(session, org: Organization, connection_id: int, crm: str, people: list[CrmPerson],
                  hash_key: str, now: datetime) -> int:
    """Undo the links of `people`, deleted in the CRM; how many contacts were
    deleted. A person never linked, or forgotten already (a page read again),
    changes nothing."""
    if not people:
        return 0
    linked = linked_contacts(session, org.id, connection_id, (p.external_id for p in people))
    unlink_people(session, org.id, connection_id, (p.external_id for p in people))
    if not linked:
        return 0
    # Locked and read again first (`store.locks`, lock 5): a rep's note, edit or
    # ownership either came before (the contact is kept) or waits and finds it gone.
    locked = {c.id for c in lock_contacts(session, org.id, {contact.id for contact, _pulled in linked.values()})}
    linked = {person: held for person, held in linked.items() if held[0].id in locked}
    by_contact: dict[int, tuple[Contact, set[str], list[CrmPerson]]] = {}
    for person in people:  # two people of a page may have become one contact
        if person.external_id in linked:
            contact, pulled = linked[person.external_id]
            held = by_contact.setdefault(contact.id, (contact, set(), []))
            held[1].update(pulled)
            held[2].append(person)
    still_linked = pulled_numbers_of(session, org.id, by_contact)
    written_on = records_with_notes_or_tasks(session, org.id, RECORD_TYPE, by_contact)
    numbers = record_numbers(session, org.id, RECORD_TYPE, list(by_contact))
    deleted = 0
    for contact_id, (contact, pulled, persons) in by_contact.items():
        untouched = (contact_id not in still_linked and contact_id not in written_on
                     and _made_by_the_pull(contact, crm)
                     and all(number_hash(hash_key, CRM_PULLED, org.id, e164) in pulled
                             for e164 in numbers[contact_id])
                     and any(_as_the_crm_said(contact, person) for person in persons))
        if untouched:
            remove_contact(session, contact, now)
            deleted += 1
        else:  # a number another linked person gave stays
            take_off_pulled_numbers(session, org, contact, sorted(pulled - still_linked.get(contact_id, set())),
                                    hash_key, now)
    return deleted


def _made_by_the_pull(contact: Contact, crm: str) -> bool:
    return contact.source == crm and contact.owner_id is None and not contact.last_note


def _as_the_crm_said(contact: Contact, person: CrmPerson) -> bool:
    """The contact's name, company and e-mail are the person's as the CRM last
    gave them (what the pull writes); a field the CRM left empty is empty."""
    name = (person.name or person.company or person.email or "").strip()[:NAME_MAX]
    if not name or contact.name != name:
        return False
    for held, given in ((contact.company, person.company), (contact.email, person.email)):
        held, given = (held or "").strip().lower(), (given or "").strip().lower()
        if held != given:
            return False
    return True
