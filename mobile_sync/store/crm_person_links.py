"""Which contact each person pulled from a CRM became (`crm_person_links`),
and the numbers the CRM gave it (keyed hashes), so the next pull of a person
updates that contact. One pull per connection
runs at a time (`crm_connections.claim_pull`), so reading then writing the
links of a page is not raced. Each function flushes, never commits."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import delete, select

from mobile_sync.store.models import Contact, CrmPersonLink


def linked_contacts(session, organization_id: int, connection_id: int,
                    person_ids: Iterable[str]) -> dict[str, tuple[Contact, list[str]]]:
    """person id → the contact it became and the hashes of the numbers the
    CRM gave it last, for those of `person_ids` linked."""
    wanted = sorted(set(person_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(CrmPersonLink.person_id, Contact, CrmPersonLink.pulled_numbers)
        .join(Contact, (Contact.id == CrmPersonLink.contact_id) & (Contact.organization_id == organization_id))
        .where(CrmPersonLink.organization_id == organization_id, CrmPersonLink.connection_id == connection_id,
               CrmPersonLink.person_id.in_(wanted))).all()
    return {person_id: (contact, list(pulled or ())) for person_id, contact, pulled in rows}


def link_people(session, organization_id: int, connection_id: int, links: dict[str, int], now: datetime,
                pulled_numbers: dict[str, list[str]] | None = None) -> None:
    """Record (or move) each person's link to its contact id, with the hashes
    of the numbers the CRM gave it (`pulled_numbers`, by person id)."""
    if not links:
        return
    pulled_numbers = pulled_numbers or {}
    held = {link.person_id: link for link in session.execute(
        select(CrmPersonLink).where(CrmPersonLink.organization_id == organization_id,
                                    CrmPersonLink.connection_id == connection_id,
                                    CrmPersonLink.person_id.in_(sorted(links)))).scalars()}
    for person_id, contact_id in links.items():
        link = held.get(person_id)
        pulled = sorted(set(pulled_numbers.get(person_id, ())))
        if link is None:
            session.add(CrmPersonLink(organization_id=organization_id, connection_id=connection_id,
                                      person_id=person_id, contact_id=contact_id, pulled_numbers=pulled,
                                      updated_at=now))
        elif link.contact_id != contact_id or sorted(link.pulled_numbers or ()) != pulled:
            link.contact_id, link.pulled_numbers, link.updated_at = contact_id, pulled, now
    session.flush()


def unlink_people(session, organization_id: int, connection_id: int, person_ids: Iterable[str]) -> None:
    """Remove the links of `person_ids` (people the CRM deleted); a link whose
    contact is gone already goes too."""
    wanted = sorted(set(person_ids))
    if not wanted:
        return
    session.execute(delete(CrmPersonLink).where(
        CrmPersonLink.organization_id == organization_id, CrmPersonLink.connection_id == connection_id,
        CrmPersonLink.person_id.in_(wanted)).execution_options(synchronize_session=False))
    session.flush()


def pulled_numbers_of(session, organization_id: int, contact_ids: Iterable[int]) -> dict[int, set[str]]:
    """contact id → the hashes of the numbers its people (any connection's)
    gave it, for those of `contact_ids` some person is still linked to."""
    wanted = sorted(set(contact_ids))
    if not wanted:
        return {}
    held: dict[int, set[str]] = {}
    for contact_id, pulled in session.execute(
            select(CrmPersonLink.contact_id, CrmPersonLink.pulled_numbers)
            .where(CrmPersonLink.organization_id == organization_id, CrmPersonLink.contact_id.in_(wanted))):
        held.setdefault(contact_id, set()).update(pulled or ())
    return held
