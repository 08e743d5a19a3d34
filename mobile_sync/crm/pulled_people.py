"""A page of people pulled from a CRM, into contacts.

A person seen for the first time goes through the contact import (our CSV,
`mobile_sync.contacts_csv`: merged by name and number into a contact that
is there already, an erased number refused) and is then linked to the
contact it became, with keyed hashes of the numbers the CRM gave it. A person
linked already updates that contact: a rename in the CRM renames it (a second
contact with the same number would make caller ID ambiguous), numbers new to
it are added, and a number the CRM gave it at an earlier pull and no longer
holds is taken off; a number erased at its owner's request is left out, and a
number a rep added, or a contact held before the person was merged into it
(never the CRM's), is kept. A person deleted in the CRM: `deleted_people`."""
from __future__ import annotations

import csv
import io
from datetime import datetime

from mobile_sync.contacts_csv import import_contact_file
from mobile_sync.crm.client import CrmPerson
from mobile_sync.number_hash import CRM_PULLED, number_hash
from mobile_sync.phone_index import record_numbers, set_record_phones
from mobile_sync.phones import normalize_number, region_for
from mobile_sync.store.contact_import import existing_contact_keys
from mobile_sync.store.crm_person_links import link_people, linked_contacts, pulled_numbers_of
from mobile_sync.store.erased_numbers import erased_numbers
from mobile_sync.store.models import Contact, Organization
from mobile_sync.webhooks.events import emit

NAME_MAX = 200
RECORD_TYPE = "contact"


def import_people(session, org: Organization, connection_id: int, crm: str, people: list[CrmPerson],
                  hash_key: str, now: datetime) -> int:
    """The people holding a number and a name (or a company or an e-mail), as
    contacts; how many contacts were new. A bare number (e.g. a person a push
    created for a caller nobody named) adds nothing caller ID does not know."""
    linked = linked_contacts(session, org.id, connection_id, (p.external_id for p in people))
    relinked, pulled = {}, {}
    # What every linked person (of any connection) gave these contacts: a number
    # another person gave stays the CRM's when this one takes it over (a merge there).
    given_by_people = pulled_numbers_of(session, org.id, (contact.id for contact, _before in linked.values()))
    for person in people:
        if person.external_id in linked:  # even with no number left: the CRM took them all off
            contact, before = linked[person.external_id]
            pulled[person.external_id] = _update(session, org, contact, before, person, hash_key, now,
                                                 given_by_people.get(contact.id, set()))
            relinked[person.external_id] = contact.id
    link_people(session, org.id, connection_id, relinked, now, pulled)
    new = [p for p in people if p.external_id not in linked and p.phones and (p.name or p.company or p.email)]
    if not new:
        return 0
    rows = [_row(person, crm) for person in new]
    # The numbers of contacts here before the import: a person merged into one
    # of them did not give it those (deleted in the CRM, it does not take them).
    before = existing_contact_keys(session, org.id, {n.e164 for p in new for n in _numbers(org, p)})
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["name", "company", "email", "source", "phones"])
    writer.writerows(rows)
    data = text.getvalue().encode()
    report = import_contact_file(session, org=org, stream=io.BytesIO(data), owner_id=None, region=None,
                                 hash_key=hash_key, now=now, size=len(data))
    _link(session, org, connection_id, new, [row[0] for row in rows], before, hash_key, now)
    return report.imported


def _numbers(org: Organization, person: CrmPerson) -> list:
    region = region_for(org.region)
    return [n for n in (normalize_number(raw, region) for raw in person.phones) if n.matchable]


def _hashes(org: Organization, numbers: list, hash_key: str) -> list[str]:
    return sorted({number_hash(hash_key, CRM_PULLED, org.id, n.e164) for n in numbers})


def _link(session, org: Organization, connection_id: int, people: list[CrmPerson], names: list[str],
          before: dict[tuple[str, str], int], hash_key: str, now: datetime) -> None:
    """Link each new person to the contact holding its name and one of its
    numbers (what the import created or merged it into), with the numbers it
    gave that contact (not those the contact held `before`); a line the
    import refused (an erased number) stays unlinked."""
    numbers = {person.external_id: [n.e164 for n in _numbers(org, person)] for person in people}
    keys = existing_contact_keys(session, org.id, {e164 for held in numbers.values() for e164 in held})
    links, pulled = {}, {}
    for person, name in zip(people, names):
        found = next((keys[(name.lower(), e164)] for e164 in numbers[person.external_id]
                      if (name.lower(), e164) in keys), None)
        if found is not None:
            links[person.external_id] = found
            given = [n for n in _numbers(org, person) if before.get((name.lower(), n.e164)) != found]
            pulled[person.external_id] = _hashes(org, given, hash_key)
    link_people(session, org.id, connection_id, links, now, pulled)


def _update(session, org: Organization, contact: Contact, pulled_before: list[str], person: CrmPerson,
            hash_key: str, now: datetime, given_by_people: set[str]) -> list[str]:
    """Bring the contact in line with its person; return the hashes of the
    numbers the CRM gives it now (`given_by_people`: the hashes every person
    linked to the contact gave it)."""
    changed = False
    if person.name or person.company or person.email:  # a bare number does not rename it
        for field, value in (("name", _name(person)), ("company", person.company), ("email", person.email)):
            value = (value or "").strip() or None
            if value is not None and getattr(contact, field) != value:
                setattr(contact, field, value[:NAME_MAX] if field == "name" else value)
                changed = True
    current = _numbers(org, person)
    if current:  # an erased number is neither added nor remembered, not even as a hash
        erased = erased_numbers(session, org.id, {n.e164 for n in current}, hash_key)
        current = [n for n in current if n.e164 not in erased]
    before, given = set(pulled_before), {n.e164 for n in current}
    held = record_numbers(session, org.id, RECORD_TYPE, [contact.id])[contact.id]
    # A number the contact holds and no CRM person ever gave it (a rep's, or
    # its own from before the person was merged into it) stays its own.
    from_crm = before | given_by_people
    now_pulled = _hashes(org, [n for n in current if n.e164 not in held
                               or number_hash(hash_key, CRM_PULLED, org.id, n.e164) in from_crm], hash_key)
    gone = {e164 for e164 in held
            if e164 not in given and number_hash(hash_key, CRM_PULLED, org.id, e164) in before}
    numbers = [n for n in current if n.e164 not in held]
    if numbers or gone:
        kept = [normalize_number(e164, None) for e164 in held if e164 not in gone]
        set_record_phones(session, organization_id=org.id, record_type=RECORD_TYPE, record_id=contact.id,
                          numbers=kept + numbers, now=now)
        changed = True
    if changed:
        contact.updated_at = now
        session.flush()
        emit(session, org.id, "contact.updated", {"contact_id": contact.id}, now)
    return now_pulled


def _name(person: CrmPerson) -> str:
    return (person.name or person.company or person.email or person.phones[0]).strip()[:NAME_MAX]


def _row(person: CrmPerson, crm: str) -> list[str]:
    return [_name(person), person.company or "", person.email or "", crm, ";".join(person.phones)]


def take_off_pulled_numbers(session, org: Organization, contact: Contact, pulled: list[str], hash_key: str,
                            now: datetime) -> None:
    """Take off the contact the numbers its CRM person gave it (`pulled`, their
    keyed hashes), as a pull does when the CRM takes them all off; the numbers
    a rep added stay, and so do its name and fields."""
    _update(session, org, contact, pulled, CrmPerson(external_id="", name=None, company=None, email=None),
            hash_key, now, set())
