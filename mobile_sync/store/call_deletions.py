"""The one hook every deletion of calls goes through, for what is derived
from the calls (the report rollups, the leads' first responses).

Every deletion of calls in the code base is an ORM `delete(Call)` statement
(erasure, retention, a consent withdrawal, a private number); a
`do_orm_execute` listener sees each, asks which (organisation, user) and
time span it is about to remove, runs it, and hands the spans to the
callbacks registered with `on_calls_deleted`, which recompute what they keep
from the calls left. An organisation's deletion (`retention.delete_organization`,
an ORM `delete(Organization)`) takes its calls by a foreign key's cascade:
the same listener deletes first the derived rows that have no foreign key
(`report_missed_calls`); rollup rows with one go by the cascade (a
user's deletion, which the code never makes, leaves the organisation's day
rows and its missed rows to `flask reports-rebuild`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from mobile_sync.store import rollup_missed
from mobile_sync.store.models import Call, Organization

CALLS = Call.__table__
ORGANIZATIONS = Organization.__table__


@dataclass(slots=True)
class DeletedSpan:
    """Calls of one user deleted between two start times (inclusive)."""

    organization_id: int
    user_id: int
    first: datetime
    last: datetime


# The deletion hook.
_DELETED: list[Callable[[Session, list[DeletedSpan]], None]] = []


def on_calls_deleted(callback: Callable[[Session, list[DeletedSpan]], None]) -> None:
    """Call `callback(session, spans)` after every deletion of calls."""
    if callback not in _DELETED:
        _DELETED.append(callback)


def _before_organizations_deleted(state) -> None:
    """The organisations' missed-call rows of the rollups, which no foreign
    key takes with them (each key checked cost every processing run)."""
    query = select(ORGANIZATIONS.c.id).execution_options(all_organizations=True)
    if state.statement.whereclause is not None:
        query = query.where(state.statement.whereclause)
    for organization_id in state.session.execute(query).scalars().all():
        rollup_missed.delete_missed(state.session, organization_id)


@event.listens_for(Session, "do_orm_execute")
def _follow_call_deletions(state):
    if not state.is_delete:
        return None
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table == ORGANIZATIONS.name:
        _before_organizations_deleted(state)
        return None
    if not (_DELETED and table == CALLS.name):
        return None
    c = CALLS.c
    where = state.statement.whereclause
    span_query = select(c.organization_id, c.user_id, func.min(c.started_at), func.max(c.started_at)) \
        .group_by(c.organization_id, c.user_id).execution_options(all_organizations=True)
    if where is not None:
        span_query = span_query.where(where)
    spans = [DeletedSpan(*row) for row in state.session.execute(span_query)]
    result = state.invoke_statement()
    if spans:
        for callback in _DELETED:
            callback(state.session, spans)
    return result
