"""Call-back tasks: a missed call from a known customer or lead opens one
for the record's owner; an outgoing call to that number closes it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mobile_sync.call_matching import CallFacts
from mobile_sync.errors import not_found
from mobile_sync.pushes import queue_push
from server.models import Contact, Lead, Task

MISSED, OUTGOING = 3, 2
TASK_PUSHES_PER_BATCH = 3


def update_callback_tasks(session, *, organization_id: int, calls: list[CallFacts], now: datetime,
                          hash_key: str) -> list[int]:
    """Open or close tasks for a processed batch, in call order. Returns push ids.

    Set-wise: one SELECT of the open tasks for the batch's numbers, the
    decisions in memory, then one UPDATE for the closed ones.
    """
    relevant = [c for c in calls if c.e164 and (c.call_type == OUTGOING or (
        c.call_type == MISSED and c.outcome in ("matched_contact", "matched_lead")))]
    if not relevant:
        return []
    numbers = {c.e164 for c in relevant}
    open_tasks: dict[str, list[Task]] = {}
    for task in session.execute(
        select(Task).where(Task.organization_id == organization_id, Task.e164.in_(numbers), Task.status == "open")
        .execution_options(all_organizations=True)
    ).scalars():
        open_tasks.setdefault(task.e164, []).append(task)
    closed: set[int] = set()
    created: list[Task] = []
    for call in sorted(relevant, key=lambda c: (c.started_at, c.id)):
        tasks = open_tasks.get(call.e164, [])
        if call.call_type == OUTGOING:
            for task in tasks:
                if task.missed_at <= call.started_at:
                    task.status, task.closed_at, task.closed_reason = "done", now, "called_back"
                    closed.add(id(task))
            open_tasks[call.e164] = [t for t in tasks if id(t) not in closed]
            continue
        task = next((t for t in tasks if (t.record_type, t.record_id) == (call.record_type, call.record_id)), None)
        if task is not None:
            task.missed_count += 1
            task.missed_at = max(task.missed_at, call.started_at)
            continue
        model = Contact if call.record_type == "contact" else Lead
        owner_id = session.execute(select(model.owner_id).where(model.id == call.record_id)).scalar()
        task = Task(organization_id=organization_id, owner_id=owner_id or call.user_id, record_type=call.record_type,
                    record_id=call.record_id, e164=call.e164, call_id=call.id, missed_at=call.started_at,
                    created_at=now, missed_count=1, status="open")
        session.add(task)
        created.append(task)
        open_tasks.setdefault(call.e164, []).append(task)
    session.flush()
    by_owner: dict[int, list[Task]] = {}
    for task in created:
        if task.status == "open":  # not already called back later in the same batch
            by_owner.setdefault(task.owner_id, []).append(task)
    pushes: list[int] = []
    for owner_id, tasks in by_owner.items():
        if len(tasks) > TASK_PUSHES_PER_BATCH:  # an old call log's first sync: one summary
            _, ids = queue_push(session, organization_id=organization_id, user_ids=[owner_id], kind="task",
                                context={"new_tasks": len(tasks)}, e164=None, hash_key=hash_key, now=now)
            pushes.extend(ids)
            continue
        for task in tasks:
            _, ids = queue_push(session, organization_id=organization_id, user_ids=[owner_id], kind="task",
                                context={"record_type": task.record_type, "record_id": task.record_id},
                                e164=task.e164, hash_key=hash_key, now=now)
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
