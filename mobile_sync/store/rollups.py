"""The statements of the call rollups (`report_call_days`, one row per user
and local day; `report_org_days`, one per organisation and day), each
scoped by organisation. The missed calls' rows are in `rollup_missed`; the
hook every deletion of calls goes through is in `call_deletions`.

Generic SQLAlchemy Core, but for the upserts, which PostgreSQL takes as one
JSON document a batch, and the unique numbers of a user over a range, which
PostgreSQL sums with `width_bucket` over each row's sorted gaps (SQLite: the
same sum in Python, `unique_in_range`). Local days are worked out in Python
(`mobile_sync.reports.rollup`), since SQLite knows no time zones; this
module takes and returns UTC times and dates.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

import orjson
from sqlalchemy import bindparam, delete, func, select, text

from mobile_sync.store.bulk_sql import among, driver_rows, one_of, upsert
from mobile_sync.store.dialect import on_postgresql, per_engine
from mobile_sync.store.models import Call
from mobile_sync.store.models.reports import SUMMED, CallDay, OrgDay
from mobile_sync.store.rollup_months import month_totals, refresh_call_months, refresh_span
from mobile_sync.store.packed_rows import day_rows_deletion, hex_bytes, pack, recordset_upsert, unpack

CALLS = Call.__table__
DAYS = CallDay.__table__
ORG_DAYS = OrgDay.__table__
# What a day row sums (SUMMED: both tables), then what only user rows hold.
DAY_FIGURES = (*SUMMED, "unique_numbers", "returned")


@dataclass(slots=True)
class CallFigures:
    """What the reports need of one processed call."""

    id: int
    user_id: int
    started_at: datetime
    duration_s: int
    call_type: int
    e164: str | None
    record_type: str | None = None  # a processing run's calls only: the record each is linked to
    record_id: int | None = None


def processed_calls(session, organization_id: int, *, upload_ids: Iterable[int] | None = None,
                    user_id: int | None = None, start: datetime | None = None,
                    end: datetime | None = None) -> list[CallFigures]:
    """The organisation's processed calls, of some uploads (a processing
    run's: with the records they are linked to) or of one user between
    `start` (inclusive) and `end` (exclusive)."""
    c = CALLS.c
    if upload_ids is not None and user_id is None and start is None and end is None:
        # A processing run's calls: one prebuilt statement, rows straight from the driver.
        return [CallFigures(*row) for row in _prebuilt(session, "run_calls", {
            "org": organization_id, "uploads": list(upload_ids)})]
    query = select(c.id, c.user_id, c.started_at, c.duration_s, c.call_type, c.e164).where(
        c.organization_id == organization_id, c.processed_at.is_not(None))
    if upload_ids is not None:
        query = query.where(among(session, c.upload_id, list(upload_ids)))
    if user_id is not None:
        query = query.where(c.user_id == user_id)
    if start is not None:
        query = query.where(c.started_at >= start)
    if end is not None:
        query = query.where(c.started_at < end)
    return [CallFigures(*row) for row in session.execute(query)]


def users_with_calls(session, organization_id: int,
                     user_id: int | None = None) -> list[tuple[int, datetime, datetime]]:
    """(user id, first start, last start) of each user with processed calls (or of one)."""
    c = CALLS.c
    query = select(c.user_id, func.min(c.started_at), func.max(c.started_at)).where(
        c.organization_id == organization_id, c.processed_at.is_not(None))
    if user_id is not None:
        query = query.where(c.user_id == user_id)
    return [tuple(row) for row in session.execute(query.group_by(c.user_id))]


# The reports' reads, built once per kind of database and run through
# `driver_rows`: for 45,000 rows SQLAlchemy's result rows cost as much
# again as the driver's own fetch.
_READS: dict = {}


def _hook_statement(name: str, postgresql: bool):
    """The processing hook's reads: built once, each taking an array."""
    c = CALLS.c
    if name == "run_calls":
        return select(c.id, c.user_id, c.started_at, c.duration_s, c.call_type, c.e164, c.record_type,
                      c.record_id).where(
            c.organization_id == bindparam("org"), c.processed_at.is_not(None),
            one_of(c.upload_id, "uploads", postgresql))
    raise KeyError(name)


def _prebuilt(session, name: str, params: dict) -> list[tuple]:
    postgresql = on_postgresql(session)
    key = ("hook", name, postgresql)
    if key not in _READS:
        _READS[key] = _hook_statement(name, postgresql)
    return driver_rows(session.connection(), _READS[key], params)


def _read_statement(kind: str, filtered: bool, postgresql: bool):
    key = (kind, filtered, postgresql)
    if key not in _READS:
        d = DAYS.c
        columns = {"days": [d.user_id, d.day, *(d[name] for name in DAY_FIGURES)],
                   "numbers": [d.user_id, d.day, d.numbers],
                   "gaps": [d.user_id, d.day, d.unique_numbers, d.gaps]}[kind]
        query = select(*columns).where(d.organization_id == bindparam("org"), d.day >= bindparam("first"),
                                       d.day <= bindparam("last"))
        if filtered:
            query = query.where(one_of(d.user_id, "users", postgresql))
        _READS[key] = query.order_by(d.user_id, d.day)
    return _READS[key]


def _driver_read(session, kind: str, organization_id: int, first: date, last: date,
                 user_ids: Iterable[int] | None) -> list[tuple]:
    filtered = user_ids is not None
    params = {"org": organization_id, "first": first, "last": last}
    if filtered:
        params["users"] = list(user_ids)
    return driver_rows(session.connection(), _read_statement(kind, filtered, on_postgresql(session)), params)


def read_call_days(session, organization_id: int, first: date, last: date,
                   user_ids: Iterable[int] | None = None) -> list[tuple]:
    """(user_id, day, every figure of DAY_FIGURES) of the organisation's user
    rows from `first` to `last` (local days, inclusive), of some users or all."""
    return _driver_read(session, "days", organization_id, first, last, user_ids)


def packed_numbers(session, organization_id: int, first: date, last: date,
                   user_ids: Iterable[int] | None) -> list:
    """(user_id, day, the day's numbers packed) of the user rows from `first`
    to `last`, of some users or all."""
    return _driver_read(session, "numbers", organization_id, first, last, user_ids)


def unique_in_range(first: date, day: date, unique_numbers: int, gaps) -> int:
    """The numbers of a user's day that count in a range from `first`: those
    whose gap exceeds `day - first` (gaps sorted ascending)."""
    return unique_numbers - bisect_right(gaps, (day - first).days)


def user_totals(session, organization_id: int, first: date, last: date,
                user_ids: Iterable[int] | None) -> list[tuple]:
    """Per user, in user order: (user_id, the sums of SUMMED, unique numbers
    over the range). One statement on PostgreSQL, over the months wholly in
    the range and the day rows of its edges (`rollup_months.month_totals`;
    `width_bucket(k, gaps)`: how many of the sorted gaps are <= k, a binary search)."""
    if on_postgresql(session):
        return month_totals(session, organization_id, first, last, user_ids)
    d = DAYS.c
    unique: dict[int, int] = {}
    for user_id, day, count, gaps in _driver_read(session, "gaps", organization_id, first, last, user_ids):
        unique[user_id] = unique.get(user_id, 0) + unique_in_range(first, day, count, unpack(gaps, "I"))
    sums = select(d.user_id, *(func.sum(d[name]) for name in SUMMED)).where(
        d.organization_id == organization_id, d.day >= first, d.day <= last).group_by(d.user_id)
    if user_ids is not None:
        sums = sums.where(among(session, d.user_id, list(user_ids)))
    return [(*row, unique[row[0]]) for row in session.execute(sums.order_by(d.user_id))]


_WHOLE = ("user_id", "day", *DAY_FIGURES, "numbers", "callbacks", "gaps")


def _whole_rows(rows) -> list[dict]:
    out = []
    for row in rows:
        row = dict(zip(_WHOLE, row))
        gaps = row["gaps"]
        row["gaps"] = list(unpack(gaps, "I")) if isinstance(gaps, (bytes, memoryview)) else list(gaps or ())
        out.append(row)
    return out


def user_days(session, organization_id: int, user_ids: Iterable[int], first: date | None = None,
              last: date | None = None) -> list[dict]:
    """Every stored user row of these users (between two days), whole, as
    dicts: user_id, day, DAY_FIGURES, numbers, callbacks (packed) and gaps
    (a list, empty if not worked out yet)."""
    d = DAYS.c
    query = select(*(d[name] for name in _WHOLE)).where(
        d.organization_id == organization_id, among(session, d.user_id, sorted(set(user_ids))))
    if first is not None:
        query = query.where(d.day >= first)
    if last is not None:
        query = query.where(d.day <= last)
    return _whole_rows(session.execute(query))


def days_of_all_users(session, organization_id: int, days: Iterable[date]) -> list:
    """(day, SUMMED, numbers) of every user row of the organisation on these days."""
    d = DAYS.c
    return session.execute(select(d.day, *(d[name] for name in SUMMED), d.numbers).where(
        d.organization_id == organization_id, among(session, d.day, sorted(set(days))))).all()


def write_call_days(session, organization_id: int, rows: list[dict]) -> None:
    """Insert or replace user rows (each a full row: user_id, day, every
    figure, numbers, callbacks, gaps: a sorted list of ints) of the organisation."""
    if rows:
        refresh_call_months(session, organization_id, _statements(session).write_call_days(session, organization_id,
                                                                                            rows))


def delete_call_days(session, organization_id: int, user_id: int | None = None, first: date | None = None,
                     last: date | None = None) -> int:
    """Remove the organisation's user rows (of one user, between two days)."""
    removed = session.execute(day_rows_deletion(DAYS, organization_id, user_id, first, last)).rowcount
    refresh_span(session, organization_id, user_id, first, last)
    return removed


def org_days(session, organization_id: int, first: date, last: date) -> list[tuple]:
    """(day, SUMMED, unique_numbers) of the organisation's day rows, in day order."""
    return driver_rows(session.connection(), _org_days_read(), {"org": organization_id, "first": first,
                                                                 "last": last})


def _org_days_read():
    if "org_days" not in _READS:
        o = ORG_DAYS.c
        _READS["org_days"] = select(o.day, *(o[name] for name in SUMMED), o.unique_numbers).where(
            o.organization_id == bindparam("org"), o.day >= bindparam("first"), o.day <= bindparam("last")
        ).order_by(o.day)
    return _READS["org_days"]


def write_org_days(session, organization_id: int, rows: list[dict]) -> None:
    """Insert or replace the organisation's day rows (day, SUMMED, unique_numbers)."""
    if rows:
        _statements(session).write_org_days(session, organization_id, rows)


def add_to_org_days(session, organization_id: int, rows: list[dict]) -> None:
    """Add to the organisation's day rows (day, SUMMED, unique_numbers: each
    added to the stored value; a missing row starts from zero)."""
    if rows:
        _statements(session).add_to_org_days(session, organization_id, rows)


def delete_org_days(session, organization_id: int, days: Iterable[date] | None = None) -> int:
    """Remove the organisation's day rows (of some days)."""
    o = ORG_DAYS.c
    statement = delete(ORG_DAYS).where(o.organization_id == organization_id)
    if days is not None:
        statement = statement.where(among(session, o.day, sorted(set(days))))
    return session.execute(statement).rowcount


_DAY_SET = (*DAY_FIGURES, "numbers", "callbacks", "gaps")
# What a month row is made of (`rollup_months`): every figure but `returned`, and the gaps.
_MONTH_INPUTS = (*(name for name in DAY_FIGURES if name != "returned"), "gaps")
_ORG_SET = (*SUMMED, "unique_numbers")


class _RollupStatements:
    """The generic upserts: executemany (SQLite runs in process: no round
    trips to save); gaps packed as 32-bit integers."""

    def _upsert(self, session, table, key, updated, rows):
        statement = upsert(session, table)
        statement = statement.on_conflict_do_update(index_elements=key,
                                                    set_={name: statement.excluded[name] for name in updated})
        session.execute(statement, rows)

    def write_call_days(self, session, organization_id: int, rows: list[dict]) -> list[tuple[int, date]]:
        """Upsert; returns the (user_id, day) keys whose month rows must be made again."""
        self._upsert(session, DAYS, ["organization_id", "day", "user_id"], _DAY_SET, [
            {**row, "organization_id": organization_id, "gaps": pack(row["gaps"], "I")} for row in rows])
        return [(row["user_id"], row["day"]) for row in rows]

    def write_org_days(self, session, organization_id: int, rows: list[dict]) -> None:
        self._upsert(session, ORG_DAYS, ["organization_id", "day"], _ORG_SET,
                     [{**row, "organization_id": organization_id} for row in rows])

    def add_to_org_days(self, session, organization_id: int, rows: list[dict]) -> None:
        statement = upsert(session, ORG_DAYS)
        statement = statement.on_conflict_do_update(index_elements=["organization_id", "day"], set_={
            name: ORG_DAYS.c[name] + statement.excluded[name] for name in _ORG_SET})
        session.execute(statement, [{**row, "organization_id": organization_id} for row in rows])


class _PostgresRollupStatements(_RollupStatements):
    """One JSON document a batch: SQLAlchemy's multi-row INSERT for each
    batch was re-read by the driver every time (its text differs with the
    number of rows)."""

    # The upsert returns the keys whose month rows change: new rows, and rows
    # whose figures or gaps changed (not those whose call backs alone did:
    # most of a run's rows, its earlier missed calls returned sooner).
    _days = text(
        f"WITH old AS (SELECT d.user_id, d.day, {', '.join('d.' + name for name in _MONTH_INPUTS)} "
        "FROM report_call_days AS d JOIN unnest(CAST(:users AS integer[]), CAST(:days AS date[])) AS k(user_id, day) "
        "ON d.user_id = k.user_id AND d.day = k.day WHERE d.organization_id = :org), up AS ("
        + recordset_upsert("report_call_days", ("organization_id", "day", "user_id"),
                           {"day": "date", "user_id": "integer", **{name: "integer" for name in DAY_FIGURES},
                            "numbers": "bytea", "callbacks": "bytea", "gaps": "integer[]"}, _DAY_SET)
        + f" RETURNING user_id, day, {', '.join(_MONTH_INPUTS)}) SELECT up.user_id, up.day FROM up LEFT JOIN old "
        "ON old.user_id = up.user_id AND old.day = up.day WHERE old.user_id IS NULL OR "
        f"({', '.join('old.' + name for name in _MONTH_INPUTS)}) IS DISTINCT FROM "
        f"({', '.join('up.' + name for name in _MONTH_INPUTS)})")
    _org_types = {"day": "date", **{name: "bigint" if name == "talk_seconds" else "integer" for name in _ORG_SET}}
    _org_days = text(recordset_upsert("report_org_days", ("organization_id", "day"), _org_types, _ORG_SET))
    _org_add = text(recordset_upsert("report_org_days", ("organization_id", "day"), _org_types, _ORG_SET, add=True))

    def write_call_days(self, session, organization_id: int, rows: list[dict]) -> list[tuple[int, date]]:
        return session.execute(self._days, {
            "org": organization_id, "rows": orjson.dumps(rows, default=hex_bytes).decode(),
            "users": [row["user_id"] for row in rows], "days": [row["day"] for row in rows]}).all()

    def write_org_days(self, session, organization_id: int, rows: list[dict]) -> None:
        session.execute(self._org_days, {"org": organization_id, "rows": orjson.dumps(rows).decode()})

    def add_to_org_days(self, session, organization_id: int, rows: list[dict]) -> None:
        session.execute(self._org_add, {"org": organization_id, "rows": orjson.dumps(rows).decode()})


_statements = per_engine(_RollupStatements, _PostgresRollupStatements)

