"""The statements that keep the leads' first responses after a processing
run (`mobile_sync.reports.lead_responses.after_run` says how): the run's
leads read once, the rule's probe of the calls for the few whose first call
the run may have moved, and one write of the responses that changed.

The rule (`lead_figures`): a lead's first response is the first processed
outgoing call with its number at or after its first call (else its creation).
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import bindparam, func, select, union

from mobile_sync.call_types import CallType
from mobile_sync.store.bulk_sql import driver_rows, one_of, update_rows
from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.models import Call, Lead
from mobile_sync.store.models.base import utcnow

CALLS = Call.__table__
LEADS = Lead.__table__
_BUILT: dict = {}


def _statement(name: str, postgresql: bool):
    key = (name, postgresql)
    if key not in _BUILT:
        lead, c = LEADS.c, CALLS.c
        if name == "leads":
            # Two arms, each of its index (the unique (organisation, phone), the
            # key): OR-ed in one WHERE, PostgreSQL read every lead (25 ms at 40,000).
            columns = (lead.id, lead.phone, lead.first_call_at, lead.created_at, lead.first_response_at)
            _BUILT[key] = union(
                select(*columns).where(lead.organization_id == bindparam("org"),
                                       one_of(lead.phone, "phones", postgresql)),
                select(*columns).where(lead.organization_id == bindparam("org"), one_of(lead.id, "ids", postgresql)))
        else:  # "probe": the rule, worked out whole (the index (organisation, number, start))
            first = select(func.min(c.started_at)).where(
                c.organization_id == lead.organization_id, c.e164 == lead.phone,
                c.call_type == int(CallType.OUTGOING), c.processed_at.is_not(None),
                c.started_at >= func.coalesce(lead.first_call_at, lead.created_at)).scalar_subquery()
            _BUILT[key] = select(lead.id, first).where(lead.organization_id == bindparam("org"),
                                                      one_of(lead.id, "ids", postgresql))
    return _BUILT[key]


def _rows(session, name: str, params: dict) -> list[tuple]:
    postgresql = on_postgresql(session)
    statement = _statement(name, postgresql)
    if postgresql:
        return driver_rows(session.connection(), statement, params)
    return [tuple(row) for row in session.execute(statement, params)]


def run_leads(session, organization_id: int, phones: Iterable[str], ids: Iterable[int]) -> list[tuple]:
    """(id, phone, first_call_at, created_at, first_response_at) of the
    organisation's leads with these numbers (E.164) or these ids."""
    phones, ids = sorted(set(phones)), sorted(set(ids))
    if not phones and not ids:
        return []
    return _rows(session, "leads", {"org": organization_id, "phones": phones, "ids": ids})


def probed_responses(session, organization_id: int, lead_ids: Iterable[int]) -> list[tuple]:
    """(id, first response by the rule, worked out from the calls) of these leads."""
    ids = sorted(set(lead_ids))
    if not ids:
        return []
    return _rows(session, "probe", {"org": organization_id, "ids": ids})


def write_first_responses(session, responses: dict[int, datetime | None]) -> None:
    """Set these leads' first responses ({lead id: response}; ids read for
    the organisation by `run_leads`), in one statement."""
    if responses:
        now = utcnow()
        update_rows(session, LEADS, [{"id": lead_id, "first_response_at": at, "updated_at": now}
                                     for lead_id, at in sorted(responses.items())],
                    {"first_response_at": "timestamptz", "updated_at": "timestamptz"})
