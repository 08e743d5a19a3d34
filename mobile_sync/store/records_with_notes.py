"""Which records carry what people wrote on them: notes and call-back tasks
(what deleting a record takes with it). Scoped by organisation."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select, union

from mobile_sync.store.models import Note, Task


def records_with_notes_or_tasks(session, organization_id: int, record_type: str,
                                record_ids: Iterable[int]) -> set[int]:
    """Those of `record_ids` (of `record_type`) holding a note or a task."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return set()
    found = union(*(select(model.record_id).where(
        model.organization_id == organization_id, model.record_type == record_type,
        model.record_id.in_(wanted)) for model in (Note, Task)))
    return {row[0] for row in session.execute(found)}
