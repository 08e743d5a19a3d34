"""The leads' first responses after a processing run, taken incrementally
(`first_responses_after_run`, handed the run's calls by
`mobile_sync.reports.lead_responses.after_run`): the run's leads read once,
the rule's probe of the calls only for those whose first call the run may
have moved, and one write of the responses that changed.

The rule (`lead_figures.first_response`): a lead's first response is the first processed
outgoing call with its number at or after its first call (else its creation).
"""
from __future__ import annotations

from bisect import bisect_left
from datetime import datetime

from sqlalchemy import bindparam, select, union

from mobile_sync.store.bulk_sql import driver_rows, one_of, update_rows
from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.lead_figures import first_response
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
            _BUILT[key] = select(lead.id, first_response(lead.organization_id)).where(lead.organization_id == bindparam("org"),
                                                      one_of(lead.id, "ids", postgresql))
    return _BUILT[key]


def _rows(session, name: str, params: dict) -> list[tuple]:
    postgresql = on_postgresql(session)
    statement = _statement(name, postgresql)
    if postgresql:
        return driver_rows(session.connection(), statement, params)
    return [tuple(row) for row in session.execute(statement, params)]


def first_responses_after_run(session, organization_id: int, answers: dict[str, list[datetime]],
                              first_linked: dict[int, datetime]) -> int:
    """A processing run's calls into the first responses of the
    organisation's leads: `answers`, its processed outgoing calls' start
    times by number (E.164, each list sorted); `first_linked`, the earliest
    start of its calls linked to each lead. Returns the leads changed.

    Calls are only ever added by a run, so a lead whose first call the run
    did not move keeps the earlier of its response and the run's first
    outgoing call with its number at or after its first call (else its
    creation): no probe of the calls. A linked lead whose first call is now
    one of the run's (it moved earlier, or it had none: a lead the run made)
    is worked out whole by the rule's probe, once, as is a lead with no
    number (merged). One read of the leads (by number, by id), the probe of
    those few, one UPDATE of the leads whose response changed."""
    if not answers and not first_linked:
        return 0
    changed, probed = {}, {}
    for lead_id, phone, first_call_at, created_at, kept in _rows(session, "leads", {
            "org": organization_id, "phones": sorted(answers), "ids": sorted(first_linked)}):
        since, times = first_call_at or created_at, answers.get(phone)
        at = bisect_left(times, since) if times else 0
        answer = times[at] if times and at < len(times) else None
        linked = first_linked.get(lead_id)
        if phone is None or (linked is not None and (first_call_at is None or first_call_at >= linked)):
            if answer is None or answer != since:
                probed[lead_id] = kept
                continue
            # The run's outgoing call at its first call itself (a lead the run
            # made from an outgoing call): no call can answer it sooner.
        elif answer is None or (kept is not None and answer >= kept):
            continue
        if answer != kept:
            changed[lead_id] = answer
    if probed:
        changed.update({lead_id: response for lead_id, response in _rows(session, "probe", {
            "org": organization_id, "ids": sorted(probed)}) if response != probed[lead_id]})
    if changed:
        now = utcnow()
        update_rows(session, LEADS, [{"id": lead_id, "first_response_at": at, "updated_at": now}
                                     for lead_id, at in sorted(changed.items())],
                    {"first_response_at": "timestamptz", "updated_at": "timestamptz"})
    return len(changed)
