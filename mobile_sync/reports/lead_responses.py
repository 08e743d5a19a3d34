"""When a lead's first response (kept on its row, `leads.first_response_at`)
is worked out again: after a processing run, for the leads its calls are
linked to in the fold of their call activity (`mobile_sync.store.
record_activity`, the same write), and for the other leads its outgoing
calls may answer (`after_run`, handed the run's calls by the reports' one
processing hook, `processing_hook`; its statement in
`mobile_sync.store.run_responses`); after
a deletion of calls, for the leads whose response was in the deleted span (the store's deletion hook); after a
record's calls are counted again (a merge, a consent withdrawal: one line
in `mobile_sync.store.record_activity.recount_records`). The rule itself is
`mobile_sync.store.lead_figures.refresh_first_responses`."""
from __future__ import annotations

from mobile_sync.reports.missed_rollup import OUTGOING
from mobile_sync.store import call_deletions, run_responses
from mobile_sync.store.lead_figures import refresh_first_responses


def after_run(session, organization_id: int, calls) -> int:
    """A processing run's calls (`rollups.CallFigures`, handed by the reports'
    processing hook): the leads its outgoing calls may answer (their
    numbers), but for the leads its calls are linked to, whose response the
    fold of their call activity wrote with it (`record_activity`). Returns
    the leads changed."""
    answered, linked = set(), set()
    for c in calls:
        if c.e164 and c.call_type == OUTGOING:
            answered.add(c.e164)
        if c.record_type == "lead" and c.record_id is not None:
            linked.add(c.record_id)
    return run_responses.first_responses_after_run(session, organization_id, answered, linked)


def _after_calls_deleted(session, spans: list[call_deletions.DeletedSpan]) -> None:
    for organization_id in sorted({s.organization_id for s in spans}):
        mine = [s for s in spans if s.organization_id == organization_id]
        refresh_first_responses(session, organization_id, responded_between=(
            min(s.first for s in mine), max(s.last for s in mine)))


call_deletions.on_calls_deleted(_after_calls_deleted)
