"""The leads' first responses after a processing run, for the leads its
outgoing calls may answer that its calls are not linked to
(`first_responses_after_run`, handed the run's numbers by
`mobile_sync.reports.lead_responses.after_run`). A lead the run's calls are
linked to has its response worked out in the fold of its call activity
(`record_activity`), in the same UPDATE: each lead is written once a run.

The rule (`lead_figures.first_response`): a lead's first response is the first processed
outgoing call with its number at or after its first call (else its creation).
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import bindparam, update

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.lead_figures import first_response
from mobile_sync.store.models import Lead
from mobile_sync.store.models.base import utcnow

LEADS = Lead.__table__
_BUILT: dict = {}


def _statement(postgresql: bool):
    """Built once per kind of database (the rule's subquery and the UPDATE
    cost ~1 ms of CPU to build and compile each run)."""
    if postgresql not in _BUILT:
        lead = LEADS.c
        rule = first_response(bindparam("org"))
        _BUILT[postgresql] = (
            update(LEADS).where(lead.organization_id == bindparam("org"), one_of(lead.phone, "phones", postgresql),
                                ~one_of(lead.id, "linked", postgresql), lead.first_response_at.is_distinct_from(rule))
            .values(first_response_at=rule, updated_at=bindparam("now", type_=lead.updated_at.type)).returning(lead.id))
    return _BUILT[postgresql]


def first_responses_after_run(session, organization_id: int, answered: Iterable[str], linked: Iterable[int]) -> int:
    """The first responses of the organisation's leads with these numbers
    (`answered`: E.164, of a run's outgoing calls) but for the leads
    `linked` to the run's calls (their fold wrote theirs): the rule, one
    probe of the number's calls a lead, one UPDATE of the leads whose
    response changed. Returns the leads changed."""
    phones = sorted(set(answered))
    if not phones:
        return 0
    postgresql = on_postgresql(session)
    return len(driver_rows(session.connection(), _statement(postgresql), {
        "org": organization_id, "phones": phones, "linked": sorted(set(linked)), "now": utcnow()}))
