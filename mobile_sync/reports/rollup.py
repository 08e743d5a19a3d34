"""Keeping the report rollups exact: one row per (organisation, local day,
user) in `report_call_days`, one per (organisation, day) in
`report_org_days`, and one per processed missed call in
`report_missed_calls` with the call that returned it.

How they stay exact, whatever happens to the calls:

- **Processing** (`add_run`, handed the run's calls by the reports' one
  processing hook, `processing_hook.after_processing_run`, in the run's transaction): a call is
  processed exactly once, in the same transaction that marks its upload
  processed, so adding the run's calls to their days cannot count one twice
  or miss one. The run's figures are worked out here from its calls (one
  read), merged into the stored rows of its users (one read each run) and
  written back in one statement with the additions to the organisation's
  days (the rows whose call backs alone change by an update of their call
  backs), then the month rows of the user rows whose month figures or gaps
  changed. Unique numbers are a set union (the day's numbers are kept),
  never a sum; each number's gap (days since
  the user's previous day with it) is worked out from the user's rows, for
  the run's days and for the next day with each number new to its day. The
  run's outgoing and connected calls may return earlier missed calls of
  anyone in the organisation (a late upload may even return them sooner
  than the call that does now): one read finds those with the run's
  numbers, and the earliest of the run's calls after each is compared here
  with its call back now. What the run adds to the organisation's days
  (its numbers new to the team that day: one read of the days' user rows'
  numbers) is worked out before its user rows are written.
- **Deletions** (erasure, retention, a consent withdrawal, a private
  number): every one is an ORM `delete(Call)`, which the store's one hook
  (`mobile_sync.store.call_deletions`) follows; `_after_calls_deleted` works
  out the affected users' days again from the calls left (and the gaps of
  their later days; their missed-call rows, which no foreign key takes, are
  removed and made again), repairs missed calls whose call back was
  deleted, and sums the organisation's days again. An organisation's
  deletion takes its missed-call rows through the same hook (before it
  runs), the other rows by their keys' cascade.
- **A zone change** moves every day boundary: `rebuild_reports` (and `flask
  reports-rebuild`) recomputes the organisation from its calls.

Only processed calls count: an upload waiting for its run is counted by
that run. Days are the organisation's zone's calendar days: a call at 00:30
local time is on that day, on either side of a daylight-saving change.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from operator import itemgetter
from zoneinfo import ZoneInfo

from mobile_sync.office_hours import within_hours
from mobile_sync.org_settings import effective_settings
from mobile_sync.reports.missed_rollup import (
    INCOMING, MISSED, OUTGOING, REJECTED, Delays, add_missed, apply_delays, is_connected, number_key,
    recheck_missed, returned_sooner,
)
from mobile_sync.store import call_deletions, rollup_missed, rollup_runs, rollups
from mobile_sync.store.locks import lock_processing
from mobile_sync.store.models import Organization
from mobile_sync.store.models.reports import NEVER
from mobile_sync.store.packed_rows import pack, unpack
from mobile_sync.store.rollups import SUMMED

@dataclass
class DayFigures:
    """One user's calls on one day, as the rollup row holds them: counts,
    the set of numbers, the returned missed calls' delays, the gaps."""

    incoming: int = 0
    outgoing: int = 0
    missed: int = 0
    rejected: int = 0
    connected: int = 0
    talk_seconds: int = 0
    in_hours: int = 0
    hours_counted: int = 0
    numbers: set = field(default_factory=set)
    callbacks: list = field(default_factory=list)
    gaps: list = field(default_factory=list)

    @classmethod
    def of_calls(cls, calls: list, hours) -> "DayFigures":
        """One user's calls of one day (`hours`: the user's office hours and
        their zone, or None), counted a kind at a time rather than call by call."""
        kinds = Counter(call.call_type for call in calls)
        talks = [call.duration_s for call in calls if is_connected(call.call_type, call.duration_s)]
        figures = cls(incoming=kinds[INCOMING], outgoing=kinds[OUTGOING], missed=kinds[MISSED],
                      rejected=sum(kinds[kind] for kind in REJECTED), connected=len(talks), talk_seconds=sum(talks),
                      numbers={number_key(call.e164) for call in calls if call.e164})
        if hours is not None:
            figures.hours_counted = len(calls)
            figures.in_hours = sum(within_hours(hours[0], call.started_at, hours[1]) for call in calls)
        return figures

    def merge(self, other: "DayFigures") -> None:
        """Add another's calls (not its call backs: those come with their missed rows)."""
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.numbers |= other.numbers

    def row(self, user_id: int, day: date) -> dict:
        return {"user_id": user_id, "day": day, **{name: getattr(self, name) for name in SUMMED},
                "unique_numbers": len(self.numbers), "returned": len(self.callbacks),
                "numbers": pack(sorted(self.numbers), "Q"), "callbacks": pack(sorted(self.callbacks), "I"),
                "gaps": self.gaps}

    @classmethod
    def from_row(cls, row: dict) -> "DayFigures":
        """From a stored user row (`rollups.user_days`)."""
        return cls(*(row[name] for name in SUMMED), set(unpack(row["numbers"], "Q")),
                   list(unpack(row["callbacks"], "I")), row["gaps"])


class OrgClock:
    """The organisation's zone and each user's office hours (with the zone
    they are read in: the user's own, else the organisation's)."""

    def __init__(self, session, organization_id: int, user_ids=None):
        org = session.get(Organization, organization_id)
        self.zone = ZoneInfo(effective_settings(org)["timezone"])
        self.hours = {}
        if user_ids is not None and not user_ids:  # the zone alone (the leads report)
            return
        for user_id, zone, hours in rollup_runs.users_hours(session, organization_id, user_ids):
            if hours:
                self.hours[user_id] = (hours, ZoneInfo(zone) if zone else self.zone)

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """The first instant of a local day, in UTC."""
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(timezone.utc)


def _figures(calls, clock: OrgClock) -> dict[tuple[int, date], DayFigures]:
    days: dict[tuple[int, date], list] = defaultdict(list)
    day_of = clock.day_of
    for call in calls:
        days[(call.user_id, day_of(call.started_at))].append(call)
    return {key: DayFigures.of_calls(mine, clock.hours.get(key[0])) for key, mine in days.items()}


def _gaps(day: date, numbers, index: dict[int, list[int]]) -> list[int]:
    """Each number's days since the user's previous day with it (sorted)."""
    today = day.toordinal()
    gaps = []
    for number in numbers:
        days = index[number]
        at = bisect_left(days, today)
        gaps.append(today - days[at - 1] if at else NEVER)
    gaps.sort()
    return gaps


def _index(states: dict[date, DayFigures]) -> dict[int, list[int]]:
    """{number: the sorted days (ordinals) of the user's rows with it}."""
    index: dict[int, list[int]] = defaultdict(list)
    for day in sorted(states):
        ordinal = day.toordinal()
        for number in states[day].numbers:
            index[number].append(ordinal)
    return index


def _stored(rows) -> dict[int, dict[date, DayFigures]]:
    users: dict[int, dict[date, DayFigures]] = defaultdict(dict)
    for row in rows:
        users[row["user_id"]][row["day"]] = DayFigures.from_row(row)
    return users


def _partial_index(rows, wanted: set, since: date) -> dict[int, list[int]]:
    """{number: the sorted days (ordinals) of the stored rows with it}, for
    the numbers wanted only, as far as a look-up from `since` on needs them:
    every day from `since` on, and of the earlier days the last one only
    (never anything's previous day from `since` on otherwise). `rows`: (day,
    packed numbers) in day order. The earlier days are checked once as one
    array for which wanted numbers they hold, then read backwards only until
    each of those is found."""
    split = bisect_left(rows, since, key=itemgetter(0))
    index: dict[int, list[int]] = defaultdict(list)
    pending = wanted.intersection(unpack(b"".join(numbers or b"" for _day, numbers in rows[:split]), "Q"))
    for at in range(split - 1, -1, -1):
        if not pending:
            break
        found = pending.intersection(unpack(rows[at][1], "Q"))
        if found:
            ordinal = rows[at][0].toordinal()
            for number in found:
                index[number].append(ordinal)
            pending -= found
    for day, numbers in rows[split:]:
        ordinal = day.toordinal()
        for number in wanted.intersection(unpack(numbers, "Q")):
            index[number].append(ordinal)
    return index


Shifts = dict[date, list[tuple[int, int]]]  # a stored day: (gap removed, gap added) of its numbers


def _user_regaps(rows, new: dict[date, DayFigures]) -> tuple[dict[date, list[int]], Shifts]:
    """One user's stored (day, numbers) in day order and a run's new days:
    the gaps of the run's days (worked out whole), and for the next stored
    day with each number new to its day, that number's gap changed (its
    previous day is now the run's day): the gap it had, the gap it gets.
    Only the run's numbers and their days' numbers are looked up."""
    stored = {day: set(unpack(numbers, "Q")) for day, numbers in rows if day in new}
    wanted = set()
    for day, figures in new.items():
        wanted |= figures.numbers | stored.get(day, set())
    index = _partial_index(rows, wanted, min(new))
    merged, shifts = {}, defaultdict(list)
    for day in sorted(new):
        before = stored.get(day, set())
        merged[day] = before | new[day].numbers
        ordinal = day.toordinal()
        for number in new[day].numbers - before:
            days = index[number]
            at = bisect_left(days, ordinal)
            if at < len(days):  # its next day: the previous day is now this one
                following = days[at]
                shifts[date.fromordinal(following)].append(
                    (following - days[at - 1] if at else NEVER, following - ordinal))
            days.insert(at, ordinal)
    gaps = {day: _gaps(day, numbers, index) for day, numbers in merged.items()}
    return gaps, {day: changes for day, changes in shifts.items() if day not in new}


def _shift_gaps(gaps: list[int], changes: list[tuple[int, int]]) -> list[int]:
    """A stored day's sorted gaps with some of its numbers' gaps changed, in order."""
    gaps = list(gaps)
    for removed, added in changes:
        at = bisect_left(gaps, removed)
        if at < len(gaps) and gaps[at] == removed:  # (always, but in a row never worked out: see "Upgrading")
            del gaps[at]
        insort(gaps, added)
    return gaps


def _merge_run(session, organization_id: int, new: dict, delays: Delays, org_days: list[dict] | None = None) -> None:
    """Merge a run's figures and delays into the stored user rows and write
    the rows changed, with the additions to the organisation's days
    (`org_days`). One read (`rollup_runs.run_rows`): every stored day's
    numbers of the run's users, their rows from the run's first day on whole
    (the run's days and the later days whose gaps change), and the call
    backs of the other rows whose call backs alone change (most of a run's:
    its earlier missed calls returned sooner); one write (`write_run`), then
    the month rows of the rows whose month inputs changed."""
    since: dict[int, date] = {}
    for user_id, day in new:
        since[user_id] = min(day, since.get(user_id, day))
    numbers, stored, callbacks = rollup_runs.run_rows(session, organization_id, since, delays)
    gaps: dict[tuple[int, date], list[int]] = {}
    shifts: dict[tuple[int, date], list[tuple[int, int]]] = {}
    for user_id in since:
        mine = {day: figures for (owner, day), figures in new.items() if owner == user_id}
        whole, shifted = _user_regaps(numbers[user_id], mine)
        gaps.update({(user_id, day): g for day, g in whole.items()})
        shifts.update({(user_id, day): changes for day, changes in shifted.items()})
    alone = []
    for key in set(delays) - set(gaps) - set(shifts):
        packed = stored[key]["callbacks"] if key in stored else callbacks.get(key)
        if packed is not None:  # a key without a stored row is written whole
            state = DayFigures(callbacks=list(unpack(packed, "I")))
            apply_delays(state, delays[key])
            alone.append((*key, pack(sorted(state.callbacks), "I"), len(state.callbacks)))
    rows, changed = [], []
    for key in (set(gaps) | set(shifts) | set(delays)) - {(user_id, day) for user_id, day, _p, _r in alone}:
        old = stored.get(key)
        state = DayFigures.from_row(old) if old else DayFigures()
        before = (*(old[name] for name in SUMMED), old["unique_numbers"], tuple(old["gaps"])) if old else None
        if key in new:
            state.merge(new[key])
        if key in gaps:
            state.gaps = gaps[key]
        elif key in shifts:
            state.gaps = _shift_gaps(state.gaps, shifts[key])
        if key in delays:
            apply_delays(state, delays[key])
        rows.append(state.row(*key))
        if (*(getattr(state, name) for name in SUMMED), len(state.numbers), tuple(state.gaps)) != before:
            changed.append(key)
    rollup_runs.write_run(session, organization_id, alone, rows, org_days or [], changed)


def sum_org_days(session, organization_id: int, days) -> None:
    """The organisation's rows of these days again, from their user rows."""
    days = set(days)
    if not days:
        return
    sums: dict[date, list[int]] = {}
    numbers: dict[date, set] = defaultdict(set)
    for row in rollups.days_of_all_users(session, organization_id, days):
        day = row[0]
        total = sums.setdefault(day, [0] * len(SUMMED))
        for i, value in enumerate(row[1:-1]):
            total[i] += value
        numbers[day].update(unpack(row[-1], "Q"))
    rollups.write_org_days(session, organization_id, [
        {"day": day, **dict(zip(SUMMED, total)), "unique_numbers": len(numbers[day])} for day, total in sums.items()])
    if days - set(sums):
        rollups.delete_org_days(session, organization_id, days - set(sums))


def _org_day_additions(session, organization_id: int, new: dict) -> list[dict]:
    """What a run adds to the organisation's days, read before its user rows
    are written: its numbers that no user had that day yet are new to the
    team (one read of the days' user rows' numbers, each row checked for the
    run's numbers not yet found). Written with the user rows (`_merge_run`)."""
    days: dict[date, list] = {}
    numbers: dict[date, set] = defaultdict(set)
    for (_user, day), figures in new.items():
        total = days.setdefault(day, [0] * len(SUMMED))
        for i, name in enumerate(SUMMED):
            total[i] += getattr(figures, name)
        numbers[day] |= figures.numbers
    for day, packed in rollup_runs.team_numbers(session, organization_id, days).items():
        numbers[day].difference_update(unpack(packed, "Q"))  # a day's rows at once: one set operation
    return [{"day": day, **dict(zip(SUMMED, total)), "unique_numbers": len(numbers[day])}
            for day, total in days.items()]


def add_run(session, organization_id: int, calls: list) -> None:
    """Add a processing run's calls (`rollups.CallFigures`, each processed
    exactly once) to the rollups."""
    if not calls:
        return
    clock = OrgClock(session, organization_id, {c.user_id for c in calls})
    pending: list[dict] = []
    delays = add_missed(session, organization_id, calls, clock, pending)
    returned_sooner(session, organization_id, calls, delays, pending)
    new = _figures(calls, clock)
    _merge_run(session, organization_id, new, delays, _org_day_additions(session, organization_id, new))


def recompute_days(session, organization_id: int, user_id: int, first: date, last: date,
                   clock: OrgClock | None = None, *, fresh: bool = False) -> set[date]:
    """Work one user's days from `first` to `last` out again from the calls
    stored (their missed-call rows too), and the gaps of their later days.
    `fresh`: no rows of theirs exist yet (a rebuild removed them all), so
    none is deleted or read first. Returns the days whose organisation rows
    must be summed again."""
    clock = clock or OrgClock(session, organization_id, [user_id])
    # A day's margin each side: a local day's first instant is computed, not stored.
    calls = [c for c in rollups.processed_calls(
        session, organization_id, user_id=user_id, start=clock.start_of(first - timedelta(days=1)),
        end=clock.start_of(last + timedelta(days=2))) if first <= clock.day_of(c.started_at) <= last]
    states: dict[date, DayFigures] = {}
    if not fresh:
        gone = {row["day"] for row in rollups.user_days(session, organization_id, [user_id], first, last)}
        rollup_missed.delete_missed(session, organization_id, user_id, first, last)
        rollups.delete_call_days(session, organization_id, user_id, first, last)
        states = _stored(rollups.user_days(session, organization_id, [user_id]))[user_id]
    delays = add_missed(session, organization_id, calls, clock)
    span = {day: figures for (_user, day), figures in _figures(calls, clock).items()}
    for day, figures in span.items():
        figures.callbacks = delays[(user_id, day)][1] if (user_id, day) in delays else []
    states.update(span)
    index = _index(states)
    rewrite = [day for day in states if day >= first]
    for day in rewrite:
        states[day].gaps = _gaps(day, states[day].numbers, index)
    rollups.write_call_days(session, organization_id, [states[day].row(user_id, day) for day in rewrite])
    return set(span) if fresh else set(span) | gone


def _after_calls_deleted(session, spans: list[call_deletions.DeletedSpan]) -> None:
    """The store's hook after a deletion of calls: the users' days in the
    deleted span again, then the missed calls whose call back went, then
    the organisation's days."""
    for organization_id in sorted({s.organization_id for s in spans}):
        # The organisation's processing lock (re-entrant; erasure and
        # withdrawal hold it already): no run adds to these days meanwhile.
        lock_processing(session, organization_id)
        clock = OrgClock(session, organization_id)
        mine = [s for s in spans if s.organization_id == organization_id]
        days: set[date] = set()
        for span in mine:
            days |= recompute_days(session, organization_id, span.user_id, clock.day_of(span.first),
                                   clock.day_of(span.last), clock)
        first, last = min(s.first for s in mine), max(s.last for s in mine)
        lost = rollup_missed.missed_with_lost_callbacks(session, organization_id, first, last)
        if lost:
            _merge_run(session, organization_id, {}, recheck_missed(session, organization_id, lost))
        sum_org_days(session, organization_id, days)


call_deletions.on_calls_deleted(_after_calls_deleted)
