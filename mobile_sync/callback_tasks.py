"""Call-back tasks: a missed call from a known customer or lead opens one
for the record's owner; an outgoing call to that number closes it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from mobile_sync.call_matching import CallFacts
from mobile_sync.errors import not_found
from mobile_sync.pushes import queue_push
from server.models import Contact, Lead, Task

MISSED, OUTGOING = 3, 2


def update_callback_tasks(session, *, organization_id: int, calls: list[CallFacts], now: datetime,
                          hash_key: str) -> list[int]:
    """Open or close tasks for a processed batch, in call order. Returns push ids."""
    pushes: list[int] = []
    for call in sorted(calls, key=lambda c: (c.started_at, c.id)):
        if call.call_type == OUTGOING and call.e164:
            session.execute(
                update(Task).where(Task.organization_id == organization_id, Task.e164 == call.e164,
                                   Task.status == "open", Task.missed_at <= call.started_at)
                .values(status="done", closed_at=now, closed_reason="called_back"))
        elif call.call_type == MISSED and call.outcome in ("matched_contact", "matched_lead"):
            task = session.execute(
                select(Task).where(Task.organization_id == organization_id, Task.record_type == call.record_type,
                                   Task.record_id == call.record_id, Task.status == "open")
                .execution_options(all_organizations=True)
            ).scalar_one_or_none()
            if task is not None:
                task.missed_count += 1
                task.missed_at = max(task.missed_at, call.started_at)
                continue
            model = Contact if call.record_type == "contact" else Lead
            owner_id = session.execute(select(model.owner_id).where(model.id == call.record_id)).scalar()
            owner_id = owner_id or call.user_id
            session.add(Task(organization_id=organization_id, owner_id=owner_id, record_type=call.record_type,
                             record_id=call.record_id, e164=call.e164, call_id=call.id, missed_at=call.started_at,
                             created_at=now))
            session.flush()
            _, ids = queue_push(session, organization_id=organization_id, user_ids=[owner_id], kind="task",
                                context={"record_type": call.record_type, "record_id": call.record_id},
                                e164=call.e164, hash_key=hash_key, now=now)
            pushes.extend(ids)
    return pushes


def list_tasks(session, *, organization_id: int, owner_id: int, status: str | None) -> list[Task]:
    query = select(Task).where(Task.organization_id == organization_id, Task.owner_id == owner_id)
    if status:
        query = query.where(Task.status == status)
    return list(session.execute(query.order_by(Task.missed_at.desc(), Task.id.desc()).limit(500)).scalars())


def complete_task(session, *, task_id: int, user_id: int, is_manager: bool, now: datetime) -> Task:
    task = session.get(Task, task_id)
    if task is None or (task.owner_id != user_id and not is_manager):
        raise not_found("task")
    if task.status == "open":
        task.status, task.closed_at, task.closed_reason = "done", now, "done_by_user"
    session.flush()
    return task
