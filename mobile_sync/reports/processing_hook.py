"""The reports' one processing hook: what a processing run's calls change
in what the reports keep, handed the run's calls once.

`after_processing_run` is the one line in `mobile_sync.process_calls`
(after the run's calls are processed and attached to their records, in the
run's transaction). It reads the run's calls once (`rollups.processed_calls`:
the figures, numbers and linked records the reports need) and hands them to
each side effect:

1. the rollups (`rollup.add_run`): the run's calls added to their days,
   missed calls and the organisation's days;
2. the leads' first responses (`lead_responses.after_run`): the leads the
   run's outgoing calls may answer (their numbers) that its calls are not
   linked to. A lead its calls are linked to (its first call may move
   earlier) has its response written by the fold of its call activity,
   earlier in the run (`mobile_sync.store.record_activity`), in the same
   UPDATE: a lead is written once a run.

A new side effect of processing for the reports hangs off this hook too,
taking the same calls, rather than reading them again.
"""
from __future__ import annotations

from mobile_sync.reports import lead_responses, rollup
from mobile_sync.store import rollups


def after_processing_run(session, organization_id: int, upload_ids: list[int]) -> int:
    """The reports' part of a processing run; returns how many calls it saw."""
    calls = rollups.processed_calls(session, organization_id, upload_ids=upload_ids)
    if not calls:
        return 0
    rollup.add_run(session, organization_id, calls)
    lead_responses.after_run(session, organization_id, calls)
    return len(calls)
