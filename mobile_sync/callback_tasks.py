"""Call-back tasks: a missed call from a known customer or lead opens one
for the record's owner; an outgoing call to that number closes it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select

from mobile_sync.store.bulk_sql import among, insert_rows, update_rows
from mobile_sync.call_types import CallType
from mobile_sync.errors import not_found
from mobile_sync.lead_rules import org_zone, outside_office_hours, users_office_hours
from mobile_sync.org_settings import effective_settings
from mobile_sync.private_numbers import private_pairs
from mobile_sync.pushes import queue_push
from mobile_sync.store.calls import CALLS, CallFacts, load_calls
from mobile_sync.store.models import Contact, Lead, Organization, Task
from mobile_sync.webhooks.events import emit, emit_many

MISSED, OUTGOING = int(CallType.MISSED), int(CallType.OUTGOING)
TASK_PUSHES_PER_BATCH = 3


# A call from a known record: matched to one in the phone index, or attached
# to the lead an earlier call of the same run created. So whether a missed
# call opens a task does not depend on how calls were grouped into uploads
# and processing runs: a number is known from its first call on.
_MATCHED = ("matched_contact", "matched_lead", "attached_to_lead")
TASKS = Task.__table__


def callback_calls(session, organization_id: int, upload_ids: list[int]) -> list[CallFacts]:
    """The uploads' calls that may open or close a task: missed calls from a
    known record, and outgoing calls to a number with an open task or a
    missed call in the same uploads."""
    calls, tasks = CALLS.c, TASKS.c
    missed = select(calls.e164).where(among(session, calls.upload_id, upload_ids), calls.call_type == MISSED,
                                      calls.outcome.in_(_MATCHED))
    waiting = select(tasks.e164).where(tasks.organization_id == organization_id, tasks.status == "open",
                                       tasks.e164.is_not(None))
    return load_calls(session, organization_id, among(session, calls.upload_id, upload_ids), calls.e164.is_not(None), or_(
        and_(calls.call_type == MISSED, calls.outcome.in_(_MATCHED)),
        and_(calls.call_type == OUTGOING, or_(calls.e164.in_(missed), calls.e164.in_(waiting)))))


@dataclass(slots=True)
class _OpenTask:
    id: int | None
    owner_id: int | None
    record_type: str
    record_id: int
    e164: str
    call_id: int | None
    missed_at: datetime
    missed_count: int
    closed: bool = False
    changed: bool = False


def _open_tasks(session, organization_id: int, numbers: set[str]) -> dict[str, list[_OpenTask]]:
    found: dict[str, list[_OpenTask]] = {}
    t = TASKS.c
    for row in session.execute(
        select(t.id, t.owner_id, t.record_type, t.record_id, t.e164, t.call_id, t.missed_at, t.missed_count)
        .where(t.organization_id == organization_id, among(session, t.e164, numbers), t.status == "open")
        .order_by(t.id)
    ).all():
        found.setdefault(row.e164, []).append(_OpenTask(*row))
    return found


def _owners(session, organization_id: int, records: set[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
    """{(record type, id): owner id} for the records missed calls point at, one query per type."""
    owners = {}
    for record_type, model in (("contact", Contact), ("lead", Lead)):
        ids = {rid for rtype, rid in records if rtype == record_type}
        if ids:
            table = model.__table__.c
            rows = session.execute(select(table.id, table.owner_id).where(
                table.organization_id == organization_id, among(session, table.id, ids))).all()
            owners.update(((record_type, rid), owner) for rid, owner in rows)
    return owners


def update_callback_tasks(session, *, organization_id: int, calls: list[CallFacts], now: datetime,
                          hash_key: str) -> list[int]:
    """Open or close tasks for a processed batch, in call order. Returns push ids.

    Set-wise: one SELECT of the open tasks for the batch's numbers and one of
    the records' owners, the decisions in memory, then one INSERT of the new
    tasks and one UPDATE of the changed ones.
    """
    relevant = [c for c in calls if c.e164 and (c.call_type == OUTGOING or (
        c.call_type == MISSED and c.outcome in _MATCHED))]
    relevant = _without_excluded_misses(session, organization_id, relevant, hash_key)
    if not relevant:
        return []
    open_tasks = _open_tasks(session, organization_id, {c.e164 for c in relevant})
    loaded = [task for tasks in open_tasks.values() for task in tasks]
    owners = _owners(session, organization_id, {(c.record_type, c.record_id) for c in relevant
                                                if c.call_type == MISSED})
    created: list[_OpenTask] = []
    changed: list[_OpenTask] = []
    for call in sorted(relevant, key=lambda c: (c.started_at, c.id)):
        tasks = open_tasks.get(call.e164, [])
        if call.call_type == OUTGOING:
            for task in tasks:
                if task.missed_at <= call.started_at:
                    task.closed = True
            open_tasks[call.e164] = [t for t in tasks if not t.closed]
            continue
        task = next((t for t in tasks if (t.record_type, t.record_id) == (call.record_type, call.record_id)), None)
        if task is not None:
            task.missed_count += 1
            task.missed_at = max(task.missed_at, call.started_at)
            if task.id is not None and not task.changed:  # loaded, not created by this batch
                task.changed = True
                changed.append(task)
            continue
        task = _OpenTask(id=None, owner_id=owners.get((call.record_type, call.record_id)) or call.user_id,
                         record_type=call.record_type, record_id=call.record_id, e164=call.e164, call_id=call.id,
                         missed_at=call.started_at, missed_count=1)
        created.append(task)
        open_tasks.setdefault(call.e164, []).append(task)
    _write_tasks(session, organization_id, created, changed, [t for t in loaded if t.closed], now)
    return _task_pushes(session, organization_id, [t for t in created if not t.closed], hash_key, now)


def _without_excluded_misses(session, organization_id: int, calls: list[CallFacts],
                             hash_key: str) -> list[CallFacts]:
    """Missed calls that must not open a task left out: a number the rep
    marked private (never a task), and, when the organisation says `skip`,
    a call outside the rep's office hours. (Outgoing calls still close tasks.)"""
    missed = [c for c in calls if c.call_type == MISSED]
    if not missed:
        return calls
    excluded = private_pairs(session, organization_id, {(c.user_id, c.e164) for c in missed}, hash_key)
    org = session.get(Organization, organization_id)
    settings = effective_settings(org)
    office_hours = {}
    if settings["auto_leads"].get("outside_office_hours") == "skip":
        office_hours = users_office_hours(session, organization_id, {c.user_id for c in missed}, org_zone(settings))
    if not excluded and not office_hours:
        return calls
    return [c for c in calls if c.call_type != MISSED or not (
        (c.user_id, c.e164) in excluded or outside_office_hours(office_hours, c))]


def _write_tasks(session, organization_id: int, created: list[_OpenTask], changed: list[_OpenTask],
                 closed: list[_OpenTask], now: datetime) -> None:
    """Write the batch's task changes and their events: `task.created` for
    every new task, `task.completed` for each closed by a call back (a task
    opened and called back in the same batch makes both)."""
    if created:
        inserted = insert_rows(session, Task.__table__, [
            {"organization_id": organization_id, "owner_id": t.owner_id, "record_type": t.record_type,
             "record_id": t.record_id, "e164": t.e164, "call_id": t.call_id, "missed_at": t.missed_at,
             "missed_count": t.missed_count, "created_at": now,
             "status": "done" if t.closed else "open", "closed_at": now if t.closed else None,
             "closed_reason": "called_back" if t.closed else None}
            for t in created], returning=("id", "status"))
        emit_many(session, organization_id, "task.created", [{"task_id": id_} for id_, _ in inserted], now)
        closed_now = [id_ for id_, status in inserted if status == "done"]
    else:
        closed_now = []
    closed_now += [t.id for t in closed]
    emit_many(session, organization_id, "task.completed", [{"task_id": id_} for id_ in closed_now], now)
    closed_ids = {t.id for t in closed}
    update_rows(session, Task.__table__, [
        {"id": t.id, "missed_count": t.missed_count, "missed_at": t.missed_at} for t in changed
        if t.id not in closed_ids], {"missed_count": "integer", "missed_at": "timestamptz"})
    update_rows(session, Task.__table__, [
        {"id": t.id, "missed_count": t.missed_count, "missed_at": t.missed_at, "status": "done", "closed_at": now,
         "closed_reason": "called_back"} for t in closed],
        {"missed_count": "integer", "missed_at": "timestamptz", "status": "varchar", "closed_at": "timestamptz",
         "closed_reason": "varchar"})


def _task_pushes(session, organization_id: int, created: list[_OpenTask], hash_key: str,
                 now: datetime) -> list[int]:
    by_owner: dict[int, list[_OpenTask]] = {}
    for task in created:
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


def list_tasks(session, *, organization_id: int, owner_id: int, status: str | None = None, page: int = 1,
               limit: int = 500) -> tuple[list[Task], int | None]:
    """The owner's tasks, latest missed call first, `limit` a page; returns (tasks, next page or None)."""
    query = select(Task).where(Task.organization_id == organization_id, Task.owner_id == owner_id)
    if status:
        query = query.where(Task.status == status)
    rows = list(session.execute(query.order_by(Task.missed_at.desc(), Task.id.desc())
                                .offset((page - 1) * limit).limit(limit + 1)).scalars())
    return rows[:limit], (page + 1 if len(rows) > limit else None)


def complete_task(session, *, organization_id: int, task_id: int, user_id: int, is_manager: bool,
                  now: datetime) -> Task:
    """Mark the task done (its owner, or a manager of its organisation); another
    organisation's task, or a colleague's for a rep, is not found."""
    task = session.get(Task, task_id)
    if task is None or task.organization_id != organization_id or (task.owner_id != user_id and not is_manager):
        raise not_found("task")
    if task.status == "open":
        task.status, task.closed_at, task.closed_reason = "done", now, "done_by_user"
        session.flush()
        emit(session, task.organization_id, "task.completed", {"task_id": task.id}, now)
    session.flush()
    return task
