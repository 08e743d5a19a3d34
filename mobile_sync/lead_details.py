"""A lead as its page and the API show it: its calls and notes, every number
the record holds, its call-back tasks, and the history of what was done to
it (from `lead_events`, written by mobile_sync.leads)."""
from __future__ import annotations

from sqlalchemy import select

from mobile_sync.phone_index import record_numbers
from mobile_sync.store.models import Call, Lead, Note, Task


def lead_details(session, lead: Lead) -> dict:
    """The lead with its calls and notes, for the API and the web page."""
    calls = session.execute(
        select(Call).where(Call.organization_id == lead.organization_id, Call.record_type == "lead",
                           Call.record_id == lead.id).order_by(Call.started_at.desc()).limit(200)
    ).scalars().all()
    notes = session.execute(
        select(Note).where(Note.organization_id == lead.organization_id, Note.record_type == "lead",
                           Note.record_id == lead.id).order_by(Note.created_at.desc())
    ).scalars().all()
    return {"lead": lead, "calls": calls, "notes": notes}


def lead_page_details(session, lead: Lead) -> dict:
    """lead_details, and for the lead's page: every number the record holds
    (merged leads' numbers included), its call-back tasks and its history."""
    numbers = record_numbers(session, lead.organization_id, "lead", [lead.id])[lead.id]
    if lead.phone and lead.phone not in numbers:
        numbers.insert(0, lead.phone)
    tasks = session.execute(
        select(Task).where(Task.organization_id == lead.organization_id, Task.record_type == "lead",
                           Task.record_id == lead.id).order_by(Task.missed_at.desc(), Task.id.desc()).limit(100)
    ).scalars().all()
    return {**lead_details(session, lead), "numbers": numbers, "tasks": tasks, "history": lead_history(lead)}


def lead_history(lead: Lead) -> list[dict]:
    """Who did what to the lead and when, oldest first: `created` (by the rep
    whose call made it, or who typed it in), then each review action."""
    events = list(lead.events)
    creator = next((e.from_user_id for e in events if e.action == "assigned"), lead.owner_id)
    history = [{"action": "created", "actor_id": creator, "at": lead.created_at,
                "detail": {"from": "call" if lead.created_from_call_id else "manual"}}]
    for event in events:
        detail = None
        if event.action == "rejected":
            detail = {"reason": event.detail}
        elif event.action == "merged":  # final: the lead still says into what
            detail = {"into_type": event.detail, "into_id": lead.merged_into_id}
        elif event.action == "assigned":
            detail = {"from_user_id": event.from_user_id, "to_user_id": event.to_user_id}
        elif event.action == "edited":
            detail = {"fields": event.detail.split(",") if event.detail else []}
        history.append({"action": event.action, "actor_id": event.actor_id, "at": event.at, "detail": detail})
    return history
