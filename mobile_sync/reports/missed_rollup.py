"""The missed calls' part of the rollups: each processed missed call's row
with the call that returned it, and the changes of the returned calls'
delays (seconds to call back) that the user rows must take."""
from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import date, datetime

from mobile_sync.call_types import CallType
from mobile_sync.store import rollup_missed

# What the reports call each Android type (API.md, "Reports"): `rejected`
# takes rejected and blocked calls; `connected` is an incoming or outgoing
# call that lasted; a missed call is returned by a later outgoing or connected call.
INCOMING, OUTGOING, MISSED = int(CallType.INCOMING), int(CallType.OUTGOING), int(CallType.MISSED)
REJECTED = frozenset({int(CallType.REJECTED), int(CallType.BLOCKED)})
TALKING = frozenset({INCOMING, OUTGOING})


def is_connected(call_type: int, duration_s: int) -> bool:
    return call_type in TALKING and duration_s > 0


def returns_a_call(call_type: int, duration_s: int) -> bool:
    """Whether a call returns an earlier missed call with its number."""
    return call_type == OUTGOING or is_connected(call_type, duration_s)


def number_key(e164: str) -> int:
    """An E.164 number as an integer: its digits (at most 15, never a leading zero)."""
    return int(e164[1:])


def _seconds(started_at: datetime, callback_at: datetime) -> int:
    return int((callback_at - started_at).total_seconds())


Delays = dict[tuple[int, date], tuple[list[int], list[int]]]  # (user, day): (delays removed, delays added)


def add_missed(session, organization_id: int, calls, clock, pending: list | None = None) -> Delays:
    """Rows for these missed calls with what returns them (written, or added
    to `pending` for one write later); their delays."""
    missed = [c for c in calls if c.call_type == MISSED]
    found = rollup_missed.find_callbacks(session, organization_id, [c.id for c in missed if c.e164])
    delays: Delays = defaultdict(lambda: ([], []))
    rows = []
    for c in missed:
        day = clock.day_of(c.started_at)
        back_id, back_at = found.get(c.id, (None, None))
        rows.append({"call_id": c.id, "user_id": c.user_id, "day": day, "started_at": c.started_at,
                     "number": number_key(c.e164) if c.e164 else None, "callback_call_id": back_id,
                     "callback_at": back_at})
        if back_at is not None:
            delays[(c.user_id, day)][1].append(_seconds(c.started_at, back_at))
    if pending is None:
        rollup_missed.write_missed(session, organization_id, rows)
    else:
        pending.extend(rows)
    return delays


def returned_sooner(session, organization_id: int, calls, delays: Delays, rows: list) -> None:
    """Earlier missed calls that the run's calls return sooner than what
    returns them now (or at all): their rows, and the delays changed. Writes
    them with `rows` (the run's own missed calls): one statement."""
    back: dict[int, list] = defaultdict(list)
    for c in calls:
        if c.e164 and returns_a_call(c.call_type, c.duration_s):
            back[number_key(c.e164)].append((c.started_at, c.id))
    for options in back.values():
        options.sort()
    new = {c.id for c in calls}
    for m in () if not back else rollup_missed.missed_returnable_by(session, organization_id, {
            number: (options[0][0], options[-1][0]) for number, options in back.items()}):
        if m.call_id in new:
            continue
        options = back[m.number]
        i = bisect_right(options, (m.started_at, m.call_id))  # the first of the run's calls after it
        if i == len(options) or (m.callback_at is not None and (m.callback_at, m.callback_call_id) <= options[i]):
            continue
        back_at, back_id = options[i]
        rows.append({"call_id": m.call_id, "user_id": m.user_id, "day": m.day, "started_at": m.started_at,
                     "number": m.number, "callback_call_id": back_id, "callback_at": back_at})
        removed, added = delays[(m.user_id, m.day)]
        if m.callback_at is not None:
            removed.append(_seconds(m.started_at, m.callback_at))
        added.append(_seconds(m.started_at, back_at))
    rollup_missed.write_missed(session, organization_id, rows)


def apply_delays(figures, change: tuple[list[int], list[int]]) -> None:
    """Take a day's changed delays into its figures (`rollup.DayFigures`)."""
    for seconds in change[0]:
        figures.callbacks.remove(seconds)
    figures.callbacks.extend(change[1])


def recheck_missed(session, organization_id: int, call_ids) -> Delays:
    """Look up again what returns these missed calls: their rows, and the delays changed."""
    rows = rollup_missed.missed_rows(session, organization_id, call_ids=sorted(call_ids))
    found = rollup_missed.find_callbacks(session, organization_id, sorted(call_ids))
    delays: Delays = defaultdict(lambda: ([], []))
    for r in rows:
        back_id, back_at = found.get(r.call_id, (None, None))
        if r.callback_at is not None:
            delays[(r.user_id, r.day)][0].append(_seconds(r.started_at, r.callback_at))
        if back_at is not None:
            delays[(r.user_id, r.day)][1].append(_seconds(r.started_at, back_at))
    rollup_missed.write_missed(session, organization_id, [
        {**r._asdict(), "callback_call_id": found.get(r.call_id, (None, None))[0],
         "callback_at": found.get(r.call_id, (None, None))[1]} for r in rows])
    return delays
