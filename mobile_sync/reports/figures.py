"""The three reports (API.md, "Reports"), read from the rollups, never from
the raw call log: calls per user and day, missed calls and their call
backs, leads by source.

Who sees what (`report_users`): managers and admins everyone, or the users
they filter on; a rep only themselves (a filter naming anyone else is 403);
a user of another organisation is 404, as if it did not exist.

Exactness across a range: counts and seconds are sums of days; unique
numbers are the size of the union of the days' number sets (a number called
on Monday and Friday is one); the median time to call back is the median of
every returned missed call's own delay (the middle one, or the mean of the
two middle ones), computed here so both databases agree.
"""
from __future__ import annotations

import gc
from collections import defaultdict
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from statistics import median

import msgspec
from sqlalchemy import select

from mobile_sync.errors import ServiceError, forbidden, not_found
from mobile_sync.reports.rollup import OrgClock
from mobile_sync.store.packed_rows import unpack
from mobile_sync.store.rollup_months import EPOCH
from mobile_sync.roles import REP
from mobile_sync.store import lead_figures, report_reads, rollups
from mobile_sync.store.models import User

GROUPS = ("user", "day", "user,day")
CALL_FIGURES = ("incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds")
CALL_FIELDS = {"user": ("user_id",), "day": ("day",), "user,day": ("user_id", "day")}
CALL_COLUMNS = (*CALL_FIGURES, "unique_numbers", "office_hours_calls", "in_office_hours", "office_hours_share")
MISSED_FIELDS = ("user_id", "missed", "returned", "unreturned", "median_callback_seconds")
LEAD_FIELDS = ("source", "created", "approved", "rejected", "merged", "pending", "responded",
               "median_first_response_seconds")
_TYPES = {"day": str, "source": str, "office_hours_share": float | None, "median_callback_seconds": float | None,
          "median_first_response_seconds": float | None}


def _item(name: str, fields: tuple[str, ...]) -> type[msgspec.Struct]:
    """A report's item type: its fields in column order (the JSON's keys and
    the CSV's columns), integers unless `_TYPES` says otherwise. A struct,
    not a dict: 45,000 items per user and day are made in a third of the
    time, and written as JSON by msgspec in C (`encode_report`). It holds
    no references, so the garbage collector does not track it."""
    return msgspec.defstruct(name, [(field, _TYPES.get(field, int)) for field in fields], gc=False)


CALL_ITEMS = {group: _item(f"Calls{''.join(key.title() for key in group.split(','))}Item",
                           (*CALL_FIELDS[group], *CALL_COLUMNS)) for group in GROUPS}
MissedItem = _item("MissedItem", MISSED_FIELDS)
LeadItem = _item("LeadItem", LEAD_FIELDS)
encode_report = msgspec.json.Encoder().encode


def check_range(first: date, last: date) -> None:
    """A range of whole days, `first` to `last` inclusive, of at most 2 years."""
    if last < first:
        raise ServiceError(422, "invalid_range", "`to` is before `from`: give the earlier day first.",
                           fields={"to": ["Must be on or after `from`."]})
    limit = two_years_after(first)
    if last >= limit:
        raise ServiceError(422, "range_too_long",
                           f"A report covers at most 2 years: with `from` {first.isoformat()}, `to` must be "
                           f"before {limit.isoformat()}.",
                           fields={"to": [f"Must be before {limit.isoformat()} (2 years after `from`)."]})


def two_years_after(day: date) -> date:
    """The same day two calendar years on (29 February: 1 March)."""
    try:
        return day.replace(year=day.year + 2)
    except ValueError:
        return date(day.year + 2, 3, 1)


def default_range(session, organization_id: int, now: datetime, days: int = 30) -> tuple[date, date]:
    """The last `days` days up to today, in the organisation's zone."""
    today = OrgClock(session, organization_id, user_ids=()).day_of(now)
    return today - timedelta(days=days - 1), today


def report_users(session, organization_id: int, viewer_id: int, viewer_role: str,
                 user_ids: list[int] | None) -> list[int] | None:
    """The users a report may show this viewer (None: everyone)."""
    if user_ids:
        known = set(session.execute(select(User.id).where(
            User.organization_id == organization_id, User.id.in_(sorted(set(user_ids))))
            .execution_options(all_organizations=True)).scalars())
        if known != set(user_ids):
            raise not_found("user")
    if viewer_role == REP:
        if user_ids and set(user_ids) != {viewer_id}:
            raise forbidden("A rep sees their own figures only.")
        return [viewer_id]
    return sorted(set(user_ids)) if user_ids else None


def member_names(session, organization_id: int) -> dict[int, str]:
    """{user id: name} of the organisation's users, for labels."""
    return dict(session.execute(select(User.id, User.name).where(User.organization_id == organization_id)
                                .execution_options(all_organizations=True)).all())


def _share(inside: int, counted: int) -> float | None:
    """The share of a day's (or range's) counted calls inside office hours, to four places."""
    return round(inside / counted, 4) if counted else None


class _Shares(dict):
    """`_share` of (inside, counted), each pair worked out once: a day's
    counts are small and repeat (45,000 items: ~9,000 `round`s, ~2.5 ms)."""

    def __missing__(self, key: tuple[int, int]) -> float | None:
        share = self[key] = _share(*key)
        return share


def _call_item(group: str, key, sums, unique: int):
    incoming, outgoing, missed, rejected, connected, talk, inside, counted = (int(value) for value in sums)
    return CALL_ITEMS[group](key, incoming, outgoing, missed, rejected, connected, talk, int(unique), counted,
                             inside, _share(inside, counted))


def user_day_items(users, first: date, last: date) -> list:
    """The items per user and day from `report_reads.call_day_items`'s rows
    (per user, its days as days since 1970-01-01, 0 for none), the day's
    text made once per day of the range, not once per item."""
    base = (first - EPOCH).days
    days = {base + offset: (first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)}
    item, shares = CALL_ITEMS["user,day"], _Shares()
    items: list = []
    for user_id, rows in users:
        items += [item(user_id, days[day], incoming, outgoing, missed, rejected, connected, talk, unique, counted,
                       inside, shares[inside, counted] if counted else None)
                  for day, incoming, outgoing, missed, rejected, connected, talk, unique, counted, inside in rows
                  if day]
    return items


@contextmanager
def _no_collection():
    """Python's cyclic garbage collector paused while tens of thousands of
    tuples are made (the items themselves are not tracked). With CPython's defaults it walks the young
    objects every 700 allocations, every tenth time older ones too (the
    45,000 items at 10M calls, on a loaded machine: 63 ms made with it
    running, 36 ms without); gunicorn's and RQ's workers collect every
    50,000 (`server.garbage_collection`), where the pause saves little,
    but the app run any other way (the CLI, tests) keeps the defaults. The
    rows and items hold no cycles; the collector runs again after, if it
    was running before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def calls_report(session, organization_id: int, *, first: date, last: date, user_ids: list[int] | None,
                 group: str = "user,day") -> list:
    """Calls per user, per day or per user and day, from the rollups.

    Per user and day the user rows are the items (on PostgreSQL read from
    the month rows, `store/rollup_months`). Per user, one statement sums
    each user's rows, unique numbers included (the numbers whose gap
    reaches back before `first`: each is counted once, on its first day in
    the range; on PostgreSQL whole months and the first month's tail from
    the month rows). Per day, the organisation's day rows are the items; for some
    users only (a team), the sums of their rows and the size of the union of
    their number sets each day."""
    check_range(first, last)
    if group == "user,day":
        with _no_collection():
            return user_day_items(report_reads.call_day_items(session, organization_id, first, last, user_ids),
                                  first, last)
    if group == "user":
        return [_call_item(group, row[0], row[1:-1], row[-1])
                for row in rollups.user_totals(session, organization_id, first, last, user_ids)]
    if user_ids is None:
        return [_call_item(group, row[0].isoformat(), row[1:-1], row[-1])
                for row in rollups.org_days(session, organization_id, first, last)]
    sums: dict = {}
    numbers: dict = defaultdict(set)
    for user_id, day, *figures in rollups.read_call_days(session, organization_id, first, last, user_ids):
        total = sums.setdefault(day, [0] * len(rollups.SUMMED))
        for i, value in enumerate(figures[:len(rollups.SUMMED)]):
            total[i] += value
    for _user_id, day, packed in rollups.packed_numbers(session, organization_id, first, last, user_ids):
        numbers[day].update(unpack(packed, "Q"))
    return [_call_item(group, day.isoformat(), sums[day], len(numbers[day])) for day in sorted(sums)]


def missed_report(session, organization_id: int, *, first: date, last: date,
                  user_ids: list[int] | None) -> list:
    """Missed calls per user: how many were returned (by anyone, at any time
    after, even after `last`) and the median time to call back."""
    check_range(first, last)
    items = []
    for user_id, missed, callbacks in report_reads.missed_by_user(session, organization_id, first, last, user_ids):
        returned = unpack(callbacks, "I")
        items.append(MissedItem(user_id, missed, len(returned), missed - len(returned),
                                median(returned) if returned else None))
    return items


def leads_report(session, organization_id: int, *, first: date, last: date,
                 user_ids: list[int] | None) -> list:
    """Leads created on each day of the range (in the organisation's zone),
    by source: what became of them (their status now), and the median time
    to first response: from the lead's first call (else its creation) to the
    first outgoing call with its number (kept on the lead's row,
    `mobile_sync.reports.lead_responses`)."""
    check_range(first, last)
    clock = OrgClock(session, organization_id, user_ids=())  # the zone only: no office hours read
    start, end = clock.start_of(first), clock.start_of(last + timedelta(days=1))
    return [LeadItem(*row) for row in lead_figures.lead_sums(session, organization_id, start, end, user_ids)]
