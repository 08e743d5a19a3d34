"""The processing hook's own statements on the user rollups
(`report_call_days`), each scoped by organisation: the packed number sets
of a run's users' every day (their gaps) and of its days' every user (the
team's numbers); its users' zones and office hours; and the call backs of the rows whose call backs alone a
run changes (its earlier missed calls returned sooner: most of the rows a
run touches), read and written by themselves.

Those rows are not written whole: a month row (`rollup_months`) is made
of every figure of its day rows but `returned`, and of their gaps, so a
change of `callbacks` and `returned` alone leaves it as it is (and
`rollups.write_call_days` itself makes no month again for such rows). A
change of anything else writes the row whole (`write_run`).

A run's merge reads and writes through `run_rows` and `write_run`: on
PostgreSQL one statement each (its users' every day's numbers, their recent
rows whole and other rows' call backs; then the call backs, the user rows
and the additions to the organisation's days, in one statement of three
data-modifying parts), where it took six; the month rows of the user rows
whose month inputs changed (the caller knows them: it read the old rows)
follow in one more.

Generic Core; on PostgreSQL the rows come from the driver in binary (the
numbers as raw bytes, not hex text: at 10M calls a run's ~2,700 rows cost
the server ~2 ms of `byteaout` and the client as much to decode), and the
team's numbers come one row a day, its users' sets joined by `string_agg`.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable

import orjson
from sqlalchemy import bindparam, select, text, tuple_, update

from mobile_sync.store import rollups
from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import on_postgresql, per_engine
from mobile_sync.store.models import User
from mobile_sync.store.models.reports import CallDay
from mobile_sync.store.packed_rows import hex_bytes, recordset_upsert
from mobile_sync.store.rollup_months import refresh_call_months

DAYS = CallDay.__table__


def users_hours(session, organization_id: int, user_ids: Iterable[int] | None = None) -> list[tuple]:
    """(user id, zone, office hours) of the organisation's users (of some, if
    given): one prebuilt statement straight to the driver (through the ORM's
    select each run cost ~0.8 ms of CPU)."""
    filtered, postgresql = user_ids is not None, on_postgresql(session)
    if (filtered, postgresql) not in _HOURS:
        u = User.__table__.c
        query = select(u.id, u.timezone, u.office_hours).where(u.organization_id == bindparam("org"))
        _HOURS[(filtered, postgresql)] = query.where(one_of(u.id, "users", postgresql)) if filtered else query
    params = {"org": organization_id}
    if filtered:
        params["users"] = sorted(set(user_ids))
    return driver_rows(session.connection(), _HOURS[(filtered, postgresql)], params)


_HOURS: dict = {}


def numbers_of_users(session, organization_id: int, user_ids: Iterable[int]) -> list[tuple[int, date, bytes]]:
    """(user_id, day, packed numbers) of every stored row of these users, in user and day order."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return []
    return _statements(session).numbers_of_users(session, organization_id, user_ids)


def team_numbers(session, organization_id: int, days: Iterable[date]) -> dict[date, bytes]:
    """{day: the packed numbers of every user row of the organisation that
    day, joined (unsorted, with repeats)}; days without rows are absent."""
    days = sorted(set(days))
    if not days:
        return {}
    return _statements(session).team_numbers(session, organization_id, days)


def callbacks_at(session, organization_id: int, keys: Iterable[tuple[int, date]]) -> dict[tuple[int, date], bytes]:
    """{(user_id, day): packed callbacks} of the stored user rows of these keys."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    return _statements(session).callbacks_at(session, organization_id, keys)


def write_callbacks(session, organization_id: int, rows: list[tuple[int, date, bytes, int]]) -> None:
    """Set the call backs of stored user rows, (user_id, day, packed
    callbacks, returned: how many) each: nothing else of the rows changes."""
    if rows:
        _statements(session).write_callbacks(session, organization_id, rows)


RunRows = tuple[dict[int, list[tuple[date, bytes]]], dict[tuple[int, date], dict], dict[tuple[int, date], bytes]]


def run_rows(session, organization_id: int, since: dict[int, date], keys: Iterable[tuple[int, date]]) -> RunRows:
    """What a run's merge reads of the user rows: ({user: [(day, packed
    numbers)] of every stored day, in day order}, {(user, day): the whole row
    (as `rollups.user_days`) of the days from `since[user]` on}, {(user, day):
    packed call backs} of the other `keys` stored)."""
    keys = sorted({(user_id, day) for user_id, day in keys if not (user_id in since and day >= since[user_id])})
    if not (since or keys):
        return {}, {}, {}
    return _statements(session).run_rows(session, organization_id, since, keys)


def write_run(session, organization_id: int, callbacks: list[tuple[int, date, bytes, int]], days: list[dict],
              org_days: list[dict], changed: Iterable[tuple[int, date]]) -> None:
    """Write a run's merge: the call backs alone of some user rows (as
    `write_callbacks`), user rows whole (as `rollups.write_call_days`), the
    additions to the organisation's days (as `rollups.add_to_org_days`), and
    the month rows of the (user, day) keys `changed`: the user rows whose
    month inputs (every figure but `returned`, and the gaps) changed or are new."""
    if callbacks or days or org_days:
        _statements(session).write_run(session, organization_id, callbacks, days, org_days)
    refresh_call_months(session, organization_id, changed)


# What a run's merge writes.
_ORG_SET = (*rollups.SUMMED, "unique_numbers")
_DAY_SET = (*rollups.DAY_FIGURES, "numbers", "callbacks", "gaps")


class _RunStatements:
    def numbers_of_users(self, session, organization_id: int, user_ids: list[int]) -> list[tuple]:
        d = DAYS.c
        return [tuple(row) for row in session.execute(select(d.user_id, d.day, d.numbers).where(
            d.organization_id == organization_id, d.user_id.in_(user_ids)).order_by(d.user_id, d.day))]

    def team_numbers(self, session, organization_id: int, days: list[date]) -> dict[date, bytes]:
        d = DAYS.c
        joined: dict[date, list[bytes]] = {}
        for day, numbers in session.execute(select(d.day, d.numbers).where(
                d.organization_id == organization_id, d.day.in_(days))):
            joined.setdefault(day, []).append(numbers or b"")
        return {day: b"".join(parts) for day, parts in joined.items()}

    def callbacks_at(self, session, organization_id: int, keys: list[tuple]) -> dict:
        d = DAYS.c
        return {(user_id, day): callbacks or b"" for user_id, day, callbacks in session.execute(
            select(d.user_id, d.day, d.callbacks).where(d.organization_id == organization_id,
                                                        tuple_(d.user_id, d.day).in_(keys)))}

    def run_rows(self, session, organization_id: int, since: dict, keys: list) -> RunRows:
        numbers: dict[int, list] = {user_id: [] for user_id in since}
        for user_id, day, packed in numbers_of_users(session, organization_id, since):
            numbers[user_id].append((day, packed))
        whole = {(row["user_id"], row["day"]): row for user_id, first in since.items()
                 for row in rollups.user_days(session, organization_id, [user_id], first)}
        return numbers, whole, callbacks_at(session, organization_id, keys)

    def write_run(self, session, organization_id: int, callbacks: list, days: list, org_days: list) -> None:
        write_callbacks(session, organization_id, callbacks)
        if days:  # (no month rows on SQLite: `write_call_days` makes none)
            rollups.write_call_days(session, organization_id, days)
        rollups.add_to_org_days(session, organization_id, org_days)

    def write_callbacks(self, session, organization_id: int, rows: list[tuple]) -> None:
        d = DAYS.c
        session.execute(update(DAYS).where(d.organization_id == organization_id, d.user_id == bindparam("_user"),
                                           d.day == bindparam("_day"))
                        .values(callbacks=bindparam("_callbacks"), returned=bindparam("_returned")),
                        [{"_user": user_id, "_day": day, "_callbacks": callbacks, "_returned": returned}
                         for user_id, day, callbacks, returned in rows])


class _PostgresRunStatements(_RunStatements):
    _users = ("SELECT user_id, day, numbers FROM report_call_days "
              "WHERE organization_id = %(org)s AND user_id = ANY(%(users)s) ORDER BY user_id, day")
    _team = ("SELECT day, string_agg(numbers, ''::bytea) FROM report_call_days "
             "WHERE organization_id = %(org)s AND day = ANY(%(days)s) GROUP BY day")

    _keys = ("unnest(%(users)s::integer[], %(days)s::date[]{}) AS k(user_id, day{}) "
             "WHERE d.organization_id = %(org)s AND d.user_id = k.user_id AND d.day = k.day")
    _callbacks = "SELECT d.user_id, d.day, d.callbacks FROM report_call_days AS d, " + _keys.format("", "")
    # Neither column is in an index: the rows' updates stay on their pages (HOT).
    _write_callbacks = ("UPDATE report_call_days AS d SET callbacks = k.callbacks, returned = k.returned "
                        "FROM " + _keys.format(", %(callbacks)s::bytea[], %(returned)s::integer[]", ", callbacks, returned"))

    # A run's rows: its users' every day (numbers; the rest of the row from
    # `since` on, its figures as one array: fewer values for the driver to
    # make of the older rows' NULLs), then other keys' call backs (`recent` NULL).
    _run_rows = (
        "SELECT d.user_id, d.day, coalesce(d.numbers, ''::bytea), d.day >= s.since, CASE WHEN d.day >= s.since "
        "THEN ARRAY[" + ", ".join(f"d.{name}" for name in rollups.DAY_FIGURES) + "] END, "
        "CASE WHEN d.day >= s.since THEN d.callbacks END, CASE WHEN d.day >= s.since THEN d.gaps END"
        " FROM unnest(%(users)s::integer[], %(since)s::date[]) AS s(user_id, since) JOIN report_call_days AS d"
        " ON d.organization_id = %(org)s AND d.user_id = s.user_id"
        " UNION ALL SELECT d.user_id, d.day, NULL, NULL, NULL, d.callbacks, NULL"
        " FROM json_to_recordset(%(keys)s::json) AS k(user_id integer, day date) JOIN report_call_days AS d"
        " ON d.organization_id = %(org)s AND d.user_id = k.user_id AND d.day = k.day")
    # Three parts, each on rows of its own (a user row's call backs alone, or
    # whole; the organisation's days): one round trip.
    _write_run = text(
        "WITH callbacks AS (UPDATE report_call_days AS d SET callbacks = decode(k.callbacks, 'hex'), "
        "returned = k.returned FROM json_to_recordset(CAST(:callbacks AS json)) "
        "AS k(user_id integer, day date, callbacks text, returned integer) "
        "WHERE d.organization_id = :org AND d.user_id = k.user_id AND d.day = k.day RETURNING 1), "
        "org_days AS (" + recordset_upsert(
            "report_org_days", ("organization_id", "day"),
            {"day": "date", **{name: "bigint" if name == "talk_seconds" else "integer" for name in _ORG_SET}},
            _ORG_SET, add=True).replace("CAST(:rows AS json)", "CAST(:org_days AS json)") + " RETURNING 1), "
        "days AS (" + recordset_upsert(
            "report_call_days", ("organization_id", "day", "user_id"),
            {"day": "date", "user_id": "integer", **{name: "integer" for name in rollups.DAY_FIGURES},
             "numbers": "bytea", "callbacks": "bytea", "gaps": "integer[]"},
            _DAY_SET).replace("CAST(:rows AS json)", "CAST(:days AS json)") + " RETURNING 1) SELECT 1")

    def _binary_rows(self, session, sql: str, params: dict) -> list[tuple]:
        cursor = session.connection().connection.cursor()
        try:
            cursor.execute(sql, params, binary=True)
            return cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()

    def run_rows(self, session, organization_id: int, since: dict, keys: list) -> RunRows:
        numbers: dict[int, list] = {user_id: [] for user_id in since}
        whole, callbacks = {}, {}
        for row in self._binary_rows(session, self._run_rows, {
                "org": organization_id,
                "users": list(since), "since": list(since.values()),
                "keys": orjson.dumps([{"user_id": user_id, "day": day} for user_id, day in keys]).decode()}):
            user_id, day, packed, recent = row[0], row[1], row[2], row[3]
            if recent is None:  # another key's call backs
                callbacks[(user_id, day)] = row[5] or b""
                continue
            numbers[user_id].append((day, packed))
            if recent:
                whole[(user_id, day)] = {"user_id": user_id, "day": day, **dict(zip(rollups.DAY_FIGURES, row[4])),
                                         "numbers": packed, "callbacks": row[5] or b"", "gaps": row[6] or []}
        for days in numbers.values():
            days.sort()
        return numbers, whole, callbacks

    def write_run(self, session, organization_id: int, callbacks: list, days: list, org_days: list) -> None:
        driver_rows(session.connection(), self._write_run, {
            "org": organization_id, "callbacks": orjson.dumps([
                {"user_id": user_id, "day": day, "callbacks": packed.hex(), "returned": returned}
                for user_id, day, packed, returned in callbacks]).decode(),
            "days": orjson.dumps(days, default=hex_bytes).decode(), "org_days": orjson.dumps(org_days).decode()})

    def numbers_of_users(self, session, organization_id: int, user_ids: list[int]) -> list[tuple]:
        return self._binary_rows(session, self._users, {"org": organization_id, "users": user_ids})

    def team_numbers(self, session, organization_id: int, days: list[date]) -> dict[date, bytes]:
        return {day: numbers or b"" for day, numbers in self._binary_rows(
            session, self._team, {"org": organization_id, "days": days})}


    def callbacks_at(self, session, organization_id: int, keys: list[tuple]) -> dict:
        return {(user_id, day): callbacks or b"" for user_id, day, callbacks in self._binary_rows(
            session, self._callbacks, {"org": organization_id, "users": [k[0] for k in keys],
                                       "days": [k[1] for k in keys]})}

    def write_callbacks(self, session, organization_id: int, rows: list[tuple]) -> None:
        self._binary_rows(session, self._write_callbacks, {
            "org": organization_id, "users": [row[0] for row in rows], "days": [row[1] for row in rows],
            "callbacks": [row[2] for row in rows], "returned": [row[3] for row in rows]})


_statements = per_engine(_RunStatements, _PostgresRunStatements)
