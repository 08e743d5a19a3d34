"""Keeping the report rollups exact: one row per (organisation, local day,
user) in `report_call_days`, and one per processed missed call in
`report_missed_calls` with the call that returned it.

How they stay exact, whatever happens to the calls:

- **Processing** (`record_processed_calls`, called once per run by
  `mobile_sync.process_calls`, in the run's transaction): a call is
  processed exactly once, in the same transaction that marks its upload
  processed, so adding the run's calls to their days cannot count one twice
  or miss one. Unique numbers are a set union (the day's numbers are kept),
  never a sum. The run's outgoing and connected calls may return earlier
  missed calls of anyone in the organisation (a late upload may even return
  them sooner than the call that does now): those are looked up again.
- **Deletions** (erasure, retention, a consent withdrawal, a private
  number): every one is an ORM `delete(Call)`, which the store's one hook
  (`mobile_sync.store.rollups`) follows; `_after_calls_deleted` works out the
  affected users' days again from the calls left, and repairs missed calls
  whose call back was deleted.
- **A zone change** moves every day boundary: `rebuild_reports` (and `flask
  reports-rebuild`) recomputes the organisation from its calls.

Only processed calls count: an upload waiting for its run is counted by
that run. Days are the organisation's zone's calendar days: a call at 00:30
local time is on that day, on either side of a daylight-saving change.
"""
from __future__ import annotations

import sys
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mobile_sync.call_types import CallType
from mobile_sync.office_hours import within_hours
from mobile_sync.org_settings import effective_settings
from mobile_sync.store import rollups
from mobile_sync.store.bulk_sql import plan_for_each_batch
from mobile_sync.store.locks import lock_processing
from mobile_sync.store.models import Organization, User

# What the reports call each Android type (API.md, "Reports"): `rejected`
# takes rejected and blocked calls; `connected` is an incoming or outgoing
# call that lasted; a missed call is returned by a later outgoing or connected call.
INCOMING, OUTGOING, MISSED = int(CallType.INCOMING), int(CallType.OUTGOING), int(CallType.MISSED)
REJECTED = frozenset({int(CallType.REJECTED), int(CallType.BLOCKED)})
TALKING = frozenset({INCOMING, OUTGOING})
_LITTLE = sys.byteorder == "little"


def is_connected(call_type: int, duration_s: int) -> bool:
    return call_type in TALKING and duration_s > 0


def returns_a_call(call_type: int, duration_s: int) -> bool:
    """Whether a call returns an earlier missed call with its number."""
    return call_type == OUTGOING or is_connected(call_type, duration_s)


def number_key(e164: str) -> int:
    """An E.164 number as an integer: its digits (at most 15, never a leading zero)."""
    return int(e164[1:])


def pack(values, typecode: str) -> bytes:
    """Integers packed little-endian ("Q": numbers, "I": seconds)."""
    packed = array(typecode, values)
    if not _LITTLE:
        packed.byteswap()
    return packed.tobytes()


def unpack(data: bytes, typecode: str) -> array:
    values = array(typecode)
    values.frombytes(data or b"")
    if not _LITTLE:
        values.byteswap()
    return values


@dataclass
class DayFigures:
    """One user's calls on one day, as the rollup row holds them."""

    incoming: int = 0
    outgoing: int = 0
    missed: int = 0
    rejected: int = 0
    connected: int = 0
    talk_seconds: int = 0
    in_hours: int = 0
    hours_counted: int = 0
    numbers: set = field(default_factory=set)

    def add(self, call, hours) -> None:
        kind, duration = call.call_type, call.duration_s
        if kind == INCOMING:
            self.incoming += 1
        elif kind == OUTGOING:
            self.outgoing += 1
        elif kind == MISSED:
            self.missed += 1
        elif kind in REJECTED:
            self.rejected += 1
        if is_connected(kind, duration):
            self.connected += 1
            self.talk_seconds += duration
        if hours is not None:
            self.hours_counted += 1
            self.in_hours += within_hours(hours[0], call.started_at, hours[1])
        if call.e164:
            self.numbers.add(number_key(call.e164))

    def merge(self, other: "DayFigures") -> None:
        for name in ("incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds", "in_hours",
                     "hours_counted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.numbers |= other.numbers

    @classmethod
    def from_row(cls, row) -> "DayFigures":
        return cls(row.incoming, row.outgoing, row.missed, row.rejected, row.connected, row.talk_seconds,
                   row.in_hours, row.hours_counted, set(unpack(row.numbers, "Q")))


class OrgClock:
    """The organisation's zone and each user's office hours (with the zone
    they are read in: the user's own, else the organisation's)."""

    def __init__(self, session, organization_id: int):
        org = session.get(Organization, organization_id)
        self.zone = ZoneInfo(effective_settings(org)["timezone"])
        self.hours = {}
        for user_id, zone, hours in session.execute(
                select(User.id, User.timezone, User.office_hours).where(User.organization_id == organization_id)):
            if hours:
                self.hours[user_id] = (hours, ZoneInfo(zone) if zone else self.zone)

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """The first instant of a local day, in UTC."""
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(timezone.utc)


def _figures(calls, clock: OrgClock) -> dict[tuple[int, date], DayFigures]:
    days: dict[tuple[int, date], DayFigures] = defaultdict(DayFigures)
    for call in calls:
        days[(call.user_id, clock.day_of(call.started_at))].add(call, clock.hours.get(call.user_id))
    return days


def _seconds(started_at: datetime, callback_at: datetime | None) -> int | None:
    return None if callback_at is None else int((callback_at - started_at).total_seconds())


def _by_user(keys) -> dict[int, list[date]]:
    users: dict[int, list[date]] = defaultdict(list)
    for user_id, day in keys:
        users[user_id].append(day)
    return users


def _write_days(session, organization_id: int, figures: dict[tuple[int, date], DayFigures]) -> None:
    """Write the days given, their missed-call figures read from the missed
    rows (which must be up to date)."""
    callbacks: dict[tuple[int, date], list[int]] = defaultdict(list)
    for user_id, days in _by_user(figures).items():
        for row in rollups.missed_rows(session, organization_id, user_id=user_id, first=min(days), last=max(days)):
            seconds = _seconds(row.started_at, row.callback_at)
            if seconds is not None:
                callbacks[(row.user_id, row.day)].append(seconds)
    rows = []
    for (user_id, day), f in figures.items():
        returned = sorted(callbacks.get((user_id, day), ()))
        rows.append({"user_id": user_id, "day": day, "incoming": f.incoming, "outgoing": f.outgoing,
                     "missed": f.missed, "rejected": f.rejected, "connected": f.connected,
                     "talk_seconds": f.talk_seconds, "unique_numbers": len(f.numbers), "in_hours": f.in_hours,
                     "hours_counted": f.hours_counted, "returned": len(returned),
                     "numbers": pack(sorted(f.numbers), "Q"), "callbacks": pack(returned, "I")})
    rollups.write_call_days(session, organization_id, rows)


def _stored_days(session, organization_id: int, keys) -> dict[tuple[int, date], DayFigures]:
    found = {}
    for user_id, days in _by_user(keys).items():
        wanted = set(days)
        for row in rollups.read_call_days(session, organization_id, min(days), max(days), [user_id], numbers=True):
            if row.day in wanted:
                found[(user_id, row.day)] = DayFigures.from_row(row)
    return found


def _recheck_missed(session, organization_id: int, call_ids, clock: OrgClock) -> set[tuple[int, date]]:
    """Look up again what returns these missed calls; their days."""
    call_ids = sorted(call_ids)
    if not call_ids:
        return set()
    rows = rollups.missed_rows(session, organization_id, call_ids=call_ids)
    found = rollups.find_callbacks(session, organization_id, call_ids)
    rollups.write_missed(session, organization_id, [
        {"call_id": r.call_id, "user_id": r.user_id, "day": r.day, "started_at": r.started_at,
         "callback_call_id": found.get(r.call_id, (None, None))[0],
         "callback_at": found.get(r.call_id, (None, None))[1]} for r in rows])
    return {(r.user_id, r.day) for r in rows}


def _add_missed(session, organization_id: int, calls, clock: OrgClock) -> None:
    missed = [c for c in calls if c.call_type == MISSED]
    found = rollups.find_callbacks(session, organization_id, [c.id for c in missed if c.e164])
    rollups.write_missed(session, organization_id, [
        {"call_id": c.id, "user_id": c.user_id, "day": clock.day_of(c.started_at), "started_at": c.started_at,
         "callback_call_id": found.get(c.id, (None, None))[0], "callback_at": found.get(c.id, (None, None))[1]}
        for c in missed])


def record_processed_calls(session, organization_id: int, upload_ids: list[int]) -> int:
    """Add the calls a processing run just processed to the rollups (the
    processing job's hook); returns how many calls were added."""
    calls = rollups.processed_calls(session, organization_id, upload_ids=upload_ids)
    if not calls:
        return 0
    clock = OrgClock(session, organization_id)
    new = _figures(calls, clock)
    _add_missed(session, organization_id, calls, clock)
    new_ids = {c.id for c in calls}
    sooner = set(rollups.missed_returnable_by(session, organization_id, [
        (c.e164, c.started_at) for c in calls if c.e164 and returns_a_call(c.call_type, c.duration_s)])) - new_ids
    touched = set(new) | _recheck_missed(session, organization_id, sooner, clock)
    days = _stored_days(session, organization_id, touched)
    for key, figures in new.items():
        days.setdefault(key, DayFigures()).merge(figures)
    _write_days(session, organization_id, days)
    return len(calls)


def recompute_days(session, organization_id: int, user_id: int, first: date, last: date,
                   clock: OrgClock | None = None, *, fresh: bool = False) -> None:
    """Work one user's days from `first` to `last` out again from the calls
    stored (their missed-call rows too). `fresh`: no rows of theirs exist
    yet (a rebuild removed them all), so none is deleted first."""
    clock = clock or OrgClock(session, organization_id)
    # A day's margin each side: a local day's first instant is computed, not stored.
    calls = [c for c in rollups.processed_calls(
        session, organization_id, user_id=user_id, start=clock.start_of(first - timedelta(days=1)),
        end=clock.start_of(last + timedelta(days=2))) if first <= clock.day_of(c.started_at) <= last]
    if not fresh:
        rollups.delete_missed(session, organization_id, user_id, first, last)
        rollups.delete_call_days(session, organization_id, user_id, first, last)
    _add_missed(session, organization_id, calls, clock)
    _write_days(session, organization_id, _figures(calls, clock))


def _after_calls_deleted(session, spans: list[rollups.DeletedSpan]) -> None:
    """The store's hook after a deletion of calls: the users' days in the
    deleted span again, then the missed calls whose call back went."""
    for organization_id in sorted({s.organization_id for s in spans}):
        # The organisation's processing lock (re-entrant; erasure and
        # withdrawal hold it already): no run adds to these days meanwhile.
        lock_processing(session, organization_id)
        clock = OrgClock(session, organization_id)
        mine = [s for s in spans if s.organization_id == organization_id]
        for span in mine:
            recompute_days(session, organization_id, span.user_id, clock.day_of(span.first),
                           clock.day_of(span.last), clock)
        first, last = min(s.first for s in mine), max(s.last for s in mine)
        lost = rollups.missed_with_lost_callbacks(session, organization_id, first, last)
        touched = _recheck_missed(session, organization_id, lost, clock)
        if touched:
            _write_days(session, organization_id, _stored_days(session, organization_id, touched))


rollups.on_calls_deleted(_after_calls_deleted)


def rebuild_reports(session, organization_id: int) -> int:
    """Recompute the organisation's rollups from its stored calls (after its
    time zone changed, or to repair); returns the users rebuilt. Flushes,
    does not commit."""
    lock_processing(session, organization_id)
    plan_for_each_batch(session)  # statements taking arrays, planned for each user's
    clock = OrgClock(session, organization_id)
    rollups.delete_missed(session, organization_id)
    rollups.delete_call_days(session, organization_id)
    users = rollups.users_with_calls(session, organization_id)
    for user_id, first, last in users:
        recompute_days(session, organization_id, user_id, clock.day_of(first), clock.day_of(last), clock,
                       fresh=True)
    session.flush()
    return len(users)


def rebuild_all_reports(session) -> dict[int, int]:
    """`rebuild_reports` for every organisation: {organisation id: users}."""
    ids = session.execute(select(Organization.id).order_by(Organization.id)
                          .execution_options(all_organizations=True)).scalars().all()
    return {organization_id: rebuild_reports(session, organization_id) for organization_id in ids}
