"""`report_call_months` on PostgreSQL: each user's month of day rows,
worked out in the database from `report_call_days` by one statement for the
(user, month) keys whose day rows a write changed (`rollups.write_call_days`
returns them: new rows, and rows whose figures or gaps changed) or a
deletion removed (`rollups.delete_call_days`); and the two reads of the
calls report that use it. A month row is made from the day rows alone, by
the one statement below, so it cannot drift from them.

Per user and day, a 90-day range is a substring of each of ~4 month rows'
`days` (fixed slots a day; the range's edges cut the edge months) joined
per user: ~2,000 rows instead of ~45,000. Per user, whole months inside the
range are summed from their rows (unique numbers: `width_bucket` over their
sorted `prevs`), the first month, if the range starts inside it, from its
row's `tails` at the first day, and the last month, if the range ends
inside it, from its day rows up to the last day or from its row less the
day rows after the last day (the fewer): ~1,000-1,500 month rows and at
most ~15 day rows a user.

SQLite (in process, no such statements) keeps reading the day rows; its
month table exists and stays empty.
"""
from __future__ import annotations

import struct
from datetime import date, timedelta
from typing import Iterable

from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.models.reports import ITEM_FIGURES, SUMMED

EPOCH = date(1970, 1, 1)
# A day's slot in `days`: the day (days since EPOCH; 0: no row), then these figures of its row.
SLOT_FIGURES = ITEM_FIGURES
SLOT = struct.Struct(f">{1 + len(SLOT_FIGURES)}i")
_SUMMED = SUMMED
_EMPTY_SLOT = "\\x" + "00" * SLOT.size
_NEXT = "(k.month + interval '1 month')::date"
_OF_KEY = f"d.organization_id = %(org)s AND d.user_id = k.user_id AND d.day >= k.month AND d.day < {_NEXT}"

# Every (user, month) key given: deleted if it has no day rows left, else made again from them.
# (Each join to the day rows names the month's range: joined on the day alone,
# the planner hashed every day row of the user, ~730 at 10M, for each key.)
_REFRESH = (
    "WITH k AS (SELECT DISTINCT user_id, month FROM unnest(%(users)s::integer[], %(months)s::date[]) AS k(user_id, month)), "
    "gone AS (DELETE FROM report_call_months AS m USING k WHERE m.organization_id = %(org)s AND m.month = k.month "
    f"AND m.user_id = k.user_id AND NOT EXISTS (SELECT FROM report_call_days AS d WHERE {_OF_KEY})) "
    f"INSERT INTO report_call_months (organization_id, month, user_id, {', '.join(_SUMMED)}, day_rows, days, prevs, "
    f"tails) SELECT %(org)s, k.month, k.user_id, {', '.join('s.' + name for name in _SUMMED)}, s.n, s.days, "
    "coalesce((SELECT array_agg(p.prev ORDER BY p.prev) FROM report_call_days AS d "
    "CROSS JOIN LATERAL (SELECT (d.day - DATE '1970-01-01') - gap AS prev FROM unnest(d.gaps) AS gap) AS p "
    f"WHERE {_OF_KEY} AND p.prev < k.month - DATE '1970-01-01'), '{{}}'), "
    "(SELECT array_agg(t.v ORDER BY t.x) FROM (SELECT x.day AS x, ARRAY["
    + ", ".join(f"coalesce(sum(d.{name}), 0)" for name in _SUMMED)
    + ", coalesce(sum(d.unique_numbers - coalesce(width_bucket(d.day - x.day::date, d.gaps), 0)), 0), count(d.day)]"
    "::bigint[] AS v "
    f"FROM generate_series(k.month::timestamp, ({_NEXT} - 1)::timestamp, interval '1 day') AS x(day) "
    f"LEFT JOIN report_call_days AS d ON {_OF_KEY} AND d.day >= x.day::date GROUP BY x.day) AS t) "
    "FROM k CROSS JOIN LATERAL (SELECT count(d.day) AS n, "
    + ", ".join(f"coalesce(sum(d.{name}), 0)" for name in _SUMMED)
    + ", string_agg(CASE WHEN d.day IS NULL THEN '" + _EMPTY_SLOT + "'::bytea ELSE int4send(d.day - DATE '1970-01-01')"
    + "".join(f" || int4send(d.{name})" for name in SLOT_FIGURES)
    + " END, ''::bytea ORDER BY g.day) AS days "
    f"FROM generate_series(k.month::timestamp, ({_NEXT} - 1)::timestamp, interval '1 day') AS g(day) "
    f"LEFT JOIN report_call_days AS d ON {_OF_KEY} AND d.day = g.day::date"
    f") AS s(n, {', '.join(_SUMMED)}, days) WHERE s.n > 0 "
    "ON CONFLICT (organization_id, month, user_id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in (*_SUMMED, "day_rows", "days", "prevs", "tails")))


def _month_of(day: date) -> date:
    return day.replace(day=1)


def _execute(session, sql: str, params: dict, binary: bool = False) -> list[tuple] | None:
    cursor = session.connection().connection.cursor(binary=binary)
    try:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None
    finally:
        cursor.close()


def refresh_call_months(session, organization_id: int, keys: Iterable[tuple[int, date]]) -> None:
    """Make the month rows of these (user id, day) keys' months again from
    their day rows (a month left with none loses its row): one statement.
    Called by every write and deletion of day rows (`rollups`)."""
    if not on_postgresql(session):
        return
    keys = sorted({(user_id, _month_of(day)) for user_id, day in keys})
    if keys:
        _execute(session, _REFRESH, {"org": organization_id, "users": [k[0] for k in keys],
                                     "months": [k[1] for k in keys]})


_SPAN_KEYS = ("SELECT user_id, month FROM report_call_months WHERE organization_id = %(org)s"
              " AND month >= %(first)s::date AND month <= %(last)s::date")


def refresh_span(session, organization_id: int, user_id: int | None, first: date | None,
                 last: date | None) -> None:
    """After day rows of the organisation (of one user, between two days)
    were deleted: their months again (a whole organisation's: deleted)."""
    if not on_postgresql(session):
        return
    if user_id is None and first is None and last is None:
        _execute(session, "DELETE FROM report_call_months WHERE organization_id = %(org)s", {"org": organization_id})
        return
    sql, params = _SPAN_KEYS, {"org": organization_id, "first": _month_of(first or date.min),
                               "last": last or date.max}
    if user_id is not None:
        sql, params["user"] = sql + " AND user_id = %(user)s", user_id
    refresh_call_months(session, organization_id, _execute(session, sql, params))


def _month_end(day: date) -> date:
    return _month_of(_month_of(day) + timedelta(days=31)) - timedelta(days=1)


_USERS = " AND user_id = ANY(%(users)s::integer[])"
_ITEMS = {filtered: (
    "SELECT user_id, substring(days FROM (greatest(%(first)s::date, month) - month) * " + str(SLOT.size)
    + " + 1 FOR (least(%(last)s::date, (month + interval '1 month')::date - 1) - greatest(%(first)s::date, month) + 1) * "
    + str(SLOT.size) + ") FROM report_call_months WHERE organization_id = %(org)s"
    " AND month >= %(first_month)s::date AND month <= %(last)s::date" + (_USERS if filtered else "")
    + " ORDER BY month, user_id")
    for filtered in (False, True)}


def month_items(session, organization_id: int, first: date, last: date,
                user_ids: Iterable[int] | None) -> list[tuple[int, bytes]]:
    """Per user with rows from `first` to `last`, of some users or all, in
    user order: (user id, the range's day slots packed as SLOT, in day
    order; a slot whose day is 0 had no row). The month rows come in the
    primary key's order (month, user) and are joined here: grouping and
    `string_agg` in the database sorted ~2,000 rows of 1.2 kB (~3 of its ~6 ms)."""
    params = {"org": organization_id, "first": first, "last": last, "first_month": _month_of(first)}
    if user_ids is not None:
        params["users"] = list(user_ids)
    parts: dict[int, list[bytes]] = {}
    for user_id, days in _execute(session, _ITEMS[user_ids is not None], params, binary=True):
        parts.setdefault(user_id, []).append(days)
    return [(user_id, b"".join(parts[user_id])) for user_id in sorted(parts)]


def _totals(filtered: bool) -> str:
    """Each part gives (user, SUMMED, unique numbers counted, day rows): a
    user with no day row in the range (but rows in its months) is left out."""
    users = _USERS if filtered else ""
    summed = ", ".join(_SUMMED)
    return (
        f"SELECT user_id, {', '.join(f'sum({name})::bigint' for name in _SUMMED)}, sum(counted)::bigint FROM ("
        f"SELECT user_id, {summed}, coalesce(width_bucket(%(before)s, prevs), 0) AS counted, day_rows AS n"
        " FROM report_call_months WHERE organization_id = %(org)s AND month >= %(whole_first)s::date"
        f" AND month <= %(whole_last)s::date{users}"
        f" UNION ALL SELECT user_id, {', '.join(f't[1][{i}]' for i in range(1, len(_SUMMED) + 3))}"
        f" FROM report_call_months CROSS JOIN LATERAL (SELECT tails[%(lead_at)s:%(lead_at)s][1:{len(_SUMMED) + 2}])"
        f" AS x(t) WHERE organization_id = %(org)s AND month = %(lead_month)s::date{users}"
        f" UNION ALL SELECT user_id, {', '.join(f'%(sign)s * {name}' for name in _SUMMED)},"
        " %(sign)s * (unique_numbers - coalesce(width_bucket(day - %(first)s::date, gaps), 0)), %(sign)s"
        " FROM report_call_days WHERE organization_id = %(org)s AND day >= %(days_first)s::date"
        f" AND day <= %(days_last)s::date{users}"
        ") AS r GROUP BY user_id HAVING sum(n) > 0 ORDER BY user_id")


_TOTALS = {filtered: _totals(filtered) for filtered in (False, True)}
_NONE = {"whole_first": date.max, "whole_last": date.min, "lead_month": date.max, "lead_at": 1,
         "days_first": date.max, "days_last": date.min, "sign": 1}


def _totals_plan(first: date, last: date) -> dict:
    """Which rows make a range's totals: the months wholly inside it (and
    the last month, when fewer of its days follow `last` than precede it);
    the first month's `tails` at `first` if it starts inside a month; and
    day rows: those of a range inside one month, those of the last month
    up to `last` (added), or those after `last` (taken off the whole last month)."""
    plan = dict(_NONE)
    if _month_of(first) == _month_of(last):
        if first.day == 1 and last == _month_end(last):
            return {**plan, "whole_first": first, "whole_last": last}
        return {**plan, "days_first": first, "days_last": last}
    whole_first = first
    if first.day != 1:
        plan.update(lead_month=_month_of(first), lead_at=(first - _month_of(first)).days + 1)
        whole_first = _month_end(first) + timedelta(days=1)
    end, start = _month_end(last), _month_of(last)
    whole_last = last
    if last != end:
        if (last - start).days + 1 <= (end - last).days:
            plan.update(days_first=start, days_last=last)
            whole_last = start - timedelta(days=1)
        else:
            plan.update(days_first=last + timedelta(days=1), days_last=end, sign=-1)
            whole_last = end
    if whole_first <= whole_last:
        plan.update(whole_first=whole_first, whole_last=whole_last)
    return plan


def month_totals(session, organization_id: int, first: date, last: date,
                 user_ids: Iterable[int] | None) -> list[tuple]:
    """Per user, in user order: (user_id, the sums of SUMMED, unique numbers
    over the range), in one statement (`_totals_plan` says which rows)."""
    params = {"org": organization_id, "first": first, "last": last, **_totals_plan(first, last),
              "before": (first - EPOCH).days - 1}  # a number counts iff its previous day <= first - 1
    if user_ids is not None:
        params["users"] = list(user_ids)
    return _execute(session, _TOTALS[user_ids is not None], params)
