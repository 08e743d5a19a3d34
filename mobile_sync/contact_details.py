"""A contact's page: the contact, every number it holds, its calls, notes and
call-back tasks (each list bounded), for the managers' contact page."""
from __future__ import annotations

from sqlalchemy import select

from mobile_sync.contacts import RECORD_TYPE, get_contact
from mobile_sync.phone_index import record_numbers
from mobile_sync.store.models import Call, Note, Task

SHOWN = 200  # calls, notes and tasks shown on the page, newest first


def contact_page_details(session, organization_id: int, contact_id: int) -> dict:
    """The contact (404 if not the organisation's) with its numbers, and its
    latest calls, notes and call-back tasks."""
    contact = get_contact(session, organization_id, contact_id)

    def latest(model, *order):
        return session.execute(select(model).where(
            model.organization_id == organization_id, model.record_type == RECORD_TYPE,
            model.record_id == contact.id).order_by(*order).limit(SHOWN)).scalars().all()

    return {"contact": contact,
            "numbers": record_numbers(session, organization_id, RECORD_TYPE, [contact.id])[contact.id],
            "calls": latest(Call, Call.started_at.desc(), Call.id.desc()),
            "notes": latest(Note, Note.created_at.desc(), Note.id.desc()),
            "tasks": latest(Task, Task.missed_at.desc(), Task.id.desc())}
