"""The processing hook's reads of the user rollups' packed number sets
(`report_call_days.numbers`), each scoped by organisation: a run's users'
every day (their gaps) and its days' every user (the team's numbers).

Generic Core; on PostgreSQL the rows come from the driver in binary (the
numbers as raw bytes, not hex text: at 10M calls a run's ~2,700 rows cost
the server ~2 ms of `byteaout` and the client as much to decode), and the
team's numbers come one row a day, its users' sets joined by `string_agg`.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable

from sqlalchemy import select

from mobile_sync.store.dialect import per_engine
from mobile_sync.store.models.reports import CallDay

DAYS = CallDay.__table__


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


class _PostgresRunStatements(_RunStatements):
    _users = ("SELECT user_id, day, numbers FROM report_call_days "
              "WHERE organization_id = %(org)s AND user_id = ANY(%(users)s) ORDER BY user_id, day")
    _team = ("SELECT day, string_agg(numbers, ''::bytea) FROM report_call_days "
             "WHERE organization_id = %(org)s AND day = ANY(%(days)s) GROUP BY day")

    def _binary_rows(self, session, sql: str, params: dict) -> list[tuple]:
        cursor = session.connection().connection.cursor()
        try:
            cursor.execute(sql, params, binary=True)
            return cursor.fetchall()
        finally:
            cursor.close()

    def numbers_of_users(self, session, organization_id: int, user_ids: list[int]) -> list[tuple]:
        return self._binary_rows(session, self._users, {"org": organization_id, "users": user_ids})

    def team_numbers(self, session, organization_id: int, days: list[date]) -> dict[date, bytes]:
        return {day: numbers or b"" for day, numbers in self._binary_rows(
            session, self._team, {"org": organization_id, "days": days})}


_statements = per_engine(_RunStatements, _PostgresRunStatements)
