"""Every report figure equals a brute-force computation over the calls left,
for random call logs in several zones (one with DST changes, one 30 minutes
off the hour), uploaded in random order (late uploads), with some calls then
erased by number and some purged by age; calls near local midnight included."""
from __future__ import annotations

import os
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from statistics import median
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete

from mobile_sync.office_hours import within_hours
from tests.api.report_team import reps_with_phones, uploads_of

ZONES = ("America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe")
NUMBERS = ("+919876543210", "+919123456789", "+918877665544", None)
HOURS = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}
# Around the DST changes of 2026 in New York (8 March, 1 November) and Lord Howe (5 April, 4 October).
BASE = datetime(2026, 10, 30, tzinfo=timezone.utc)
SPAN_MINUTES = 10 * 24 * 60


calls_strategy = st.lists(st.tuples(
    st.integers(0, 2),                                          # user
    st.one_of(st.integers(0, SPAN_MINUTES),                     # minute after BASE
              st.integers(0, 9).map(lambda d: d * 1440 + 4 * 60 + 30)),  # 00:30 in New York, about
    st.sampled_from((1, 2, 3, 4, 5, 6, 7)),                     # Android type
    st.sampled_from((0, 0, 5, 60)),                             # duration
    st.sampled_from(NUMBERS),
    st.integers(0, 3),                                          # upload batch
), min_size=1, max_size=40)


def _brute(calls, zone, hours_of, first, last, group):
    tz = ZoneInfo(zone)
    items = defaultdict(lambda: {"incoming": 0, "outgoing": 0, "missed": 0, "rejected": 0, "connected": 0,
                                 "talk_seconds": 0, "numbers": set(), "counted": 0, "inside": 0})
    for c in calls:
        day = c["started_at"].astimezone(tz).date()
        if not first <= day <= last:
            continue
        key = {"user": (c["user_id"],), "day": (day.isoformat(),), "user,day": (c["user_id"], day.isoformat())}[group]
        item = items[key]
        kind = c["call_type"]
        item["incoming"] += kind == 1
        item["outgoing"] += kind == 2
        item["missed"] += kind == 3
        item["rejected"] += kind in (5, 6)
        if kind in (1, 2) and c["duration_s"] > 0:
            item["connected"] += 1
            item["talk_seconds"] += c["duration_s"]
        if c["e164"]:
            item["numbers"].add(c["e164"])
        hours = hours_of.get(c["user_id"])
        if hours:
            item["counted"] += 1
            item["inside"] += within_hours(hours[0], c["started_at"], hours[1])
    out = []
    for key in sorted(items):
        item = items[key]
        names = {"user": ("user_id",), "day": ("day",), "user,day": ("user_id", "day")}[group]
        counted, inside = item.pop("counted"), item.pop("inside")
        out.append({**dict(zip(names, key)), **{k: v for k, v in item.items() if k != "numbers"},
                    "unique_numbers": len(item["numbers"]), "office_hours_calls": counted,
                    "in_office_hours": inside, "office_hours_share": round(inside / counted, 4) if counted else None})
    return out


def _brute_missed(calls, zone, first, last):
    tz = ZoneInfo(zone)
    per_user = defaultdict(lambda: {"missed": 0, "delays": []})
    for m in calls:
        day = m["started_at"].astimezone(tz).date()
        if m["call_type"] != 3 or not first <= day <= last:
            continue
        per_user[m["user_id"]]["missed"] += 1
        backs = [c for c in calls if m["e164"] and c["e164"] == m["e164"]
                 and (c["started_at"], c["id"]) > (m["started_at"], m["id"])
                 and (c["call_type"] == 2 or (c["call_type"] == 1 and c["duration_s"] > 0))]
        if backs:
            back = min(backs, key=lambda c: (c["started_at"], c["id"]))
            per_user[m["user_id"]]["delays"].append(int((back["started_at"] - m["started_at"]).total_seconds()))
    return [{"user_id": user_id, "missed": v["missed"], "returned": len(v["delays"]),
             "unreturned": v["missed"] - len(v["delays"]),
             "median_callback_seconds": median(v["delays"]) if v["delays"] else None}
            for user_id, v in sorted(per_user.items())]


@settings(max_examples=int(os.environ.get("REPORTS_EXAMPLES", 40)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(zone=st.sampled_from(ZONES), rows=calls_strategy, order=st.permutations(range(4)),
       erase=st.sampled_from(NUMBERS), purge_days=st.one_of(st.none(), st.integers(0, 9)),
       first_offset=st.integers(-1, 9), length=st.integers(1, 12), with_hours=st.booleans())
def test_every_figure_equals_a_brute_force_count(clean_app, zone, rows, order, erase, purge_days, first_offset,
                                                  length, with_hours):
    first = (BASE + timedelta(days=first_offset)).date()
    _every_figure_equals_a_brute_force_count(clean_app, BASE, zone, rows, order, erase, purge_days, first,
                                             first + timedelta(days=length - 1), with_hours)


# Three calendar months and their edges (PostgreSQL reads whole months from
# `report_call_months`, the edges from the day rows): 20 September to 9
# December 2026, across Lord Howe's (4 October) and New York's (1 November) DST changes.
MONTHS_BASE = datetime(2026, 9, 20, tzinfo=timezone.utc)
MONTHS_SPAN_DAYS = 80
# More numbers, each called seldom: their previous days reach across months.
MONTHS_NUMBERS = (*(f"+9198765432{n:02d}" for n in range(12)), None)
months_calls_strategy = st.lists(st.tuples(
    st.integers(0, 2),                                                        # user
    st.one_of(st.integers(0, MONTHS_SPAN_DAYS * 1440),                        # minute after MONTHS_BASE
              st.integers(0, MONTHS_SPAN_DAYS - 1).map(lambda d: d * 1440 + 4 * 60 + 30),  # about local midnight
              st.sampled_from((11, 12, 41, 42, 71, 72)).map(lambda d: d * 1440 - 6 * 60)),  # months' last days
    st.sampled_from((1, 2, 3, 4, 5, 6, 7)),
    st.sampled_from((0, 0, 5, 60)),
    st.sampled_from(MONTHS_NUMBERS),
    st.integers(0, 3),
), min_size=1, max_size=60)
# Month starts and ends, and days next to them.
EDGES = [date(2026, 9, 20) + timedelta(days=n) for n in range(MONTHS_SPAN_DAYS + 2)]
MONTH_DAYS = st.one_of(st.sampled_from([date(2026, m, d) for m in (10, 11, 12) for d in (1, 2)]
                                       + [date(2026, m, d) for m, d in ((9, 30), (10, 30), (10, 31), (11, 29),
                                                                        (11, 30))]),
                       st.sampled_from(EDGES))


@settings(max_examples=int(os.environ.get("REPORTS_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(zone=st.sampled_from(ZONES), rows=months_calls_strategy, order=st.permutations(range(4)),
       erase=st.sampled_from(MONTHS_NUMBERS), purge_days=st.one_of(st.none(), st.integers(0, MONTHS_SPAN_DAYS)),
       ends=st.tuples(MONTH_DAYS, MONTH_DAYS), with_hours=st.booleans())
def test_every_figure_over_whole_months_and_their_edges_equals_a_brute_force_count(
        clean_app, zone, rows, order, erase, purge_days, ends, with_hours):
    first, last = sorted(ends)
    _every_figure_equals_a_brute_force_count(clean_app, MONTHS_BASE, zone, rows, order, erase, purge_days, first,
                                             last, with_hours)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("last", (date(2026, 11, 30), date(2026, 11, 20), date(2026, 11, 5)))
def test_numbers_called_on_either_side_of_the_first_day_and_in_later_months_count_once(clean_app, zone, last):
    """From 15 October (October read from its month row's tails) to the end
    of November (a whole month), to 20 November (November's row less the
    days after), or to 5 November (November's day rows). A number called on
    the first day and next in November counts once; one called the day
    before the range and again in October, or in November, counts; so does
    one called only in November, and one in October and November."""
    def at(day: date, hour: int = 12) -> int:  # minutes after MONTHS_BASE
        return int((datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone)) - MONTHS_BASE)
                   .total_seconds() // 60)

    a, b, c, d, e = MONTHS_NUMBERS[:5]
    rows = [(0, at(date(2026, 10, 15)), 2, 60, a, 0), (0, at(date(2026, 11, 3)), 2, 5, a, 1),
            (0, at(date(2026, 10, 14)), 1, 60, b, 0), (0, at(date(2026, 11, 30), 23), 3, 0, b, 2),
            (0, at(date(2026, 11, 1), 0), 2, 0, c, 3), (1, at(date(2026, 10, 20)), 2, 0, d, 0),
            (1, at(date(2026, 11, 20)), 1, 5, d, 1), (2, at(date(2026, 9, 30), 23), 2, 60, a, 0),
            (2, at(date(2026, 11, 1), 1), 2, 60, a, 2), (1, at(date(2026, 10, 14), 23), 2, 5, e, 2),
            (1, at(date(2026, 10, 16), 1), 1, 5, e, 3), (2, at(date(2026, 10, 14)), 3, 0, e, 1),
            (2, at(date(2026, 11, 4)), 2, 60, e, 3), (2, at(date(2026, 11, 25)), 2, 60, c, 0)]
    _every_figure_equals_a_brute_force_count(clean_app, MONTHS_BASE, zone, rows, [0, 1, 2, 3], None, None,
                                             date(2026, 10, 15), last, True)


def _every_figure_equals_a_brute_force_count(clean_app, base, zone, rows, order, erase, purge_days, first, last,
                                             with_hours):
    from mobile_sync.reports import figures
    from mobile_sync.reports.processing_hook import after_processing_run
    from mobile_sync.store.models import Call, Organization
    from server.extensions import db

    with clean_app.app_context():
        session = db.session
        try:
            org = Organization(name="Property", region="IN", settings={"timezone": zone})
            session.add(org)
            session.flush()
            users = reps_with_phones(session, org.id, 3, lambda index: {
                "timezone": "Asia/Dubai" if index == 2 else None,
                "office_hours": HOURS if with_hours and index > 0 else None})
            uploads = uploads_of(session, org.id, users, 4, base)
            stored = []
            for n, (user, minute, kind, duration, number, batch) in enumerate(rows):
                started = base + timedelta(minutes=minute)
                call = Call(organization_id=org.id, device_id=users[user][1], user_id=users[user][0],
                            upload_id=uploads[(batch, user)], android_id=n, date_ms=int(started.timestamp() * 1000),
                            started_at=started, duration_s=duration, call_type=kind, presentation=1,
                            raw_number=number, e164=number, number_status="ok" if number else "private",
                            processed_at=base)
                session.add(call)
                stored.append(call)
            session.flush()
            for batch in order:  # late uploads: batches processed in any order
                for index in range(3):
                    after_processing_run(session, org.id, [uploads[(batch, index)]])
            if erase:
                session.execute(delete(Call).where(Call.organization_id == org.id, Call.e164 == erase))
            if purge_days is not None:
                cutoff = base + timedelta(days=purge_days, hours=7)
                session.execute(delete(Call).where(Call.organization_id == org.id, Call.started_at < cutoff))
            session.expire_all()
            left = [{"id": c.id, "user_id": c.user_id, "started_at": c.started_at, "call_type": c.call_type,
                     "duration_s": c.duration_s, "e164": c.e164}
                    for c in session.query(Call).filter(Call.organization_id == org.id)]
            hours_of = {user_id: (HOURS, ZoneInfo("Asia/Dubai") if index == 2 else ZoneInfo(zone))
                        for index, (user_id, _) in enumerate(users) if with_hours and index > 0}
            for group in ("user,day", "user", "day"):
                got = msgspec.to_builtins(figures.calls_report(session, org.id, first=first, last=last, user_ids=None,
                                                               group=group))
                assert got == _brute(left, zone, hours_of, first, last, group), group
            team = [users[0][0], users[2][0]]
            for group in ("day", "user", "user,day"):
                got = msgspec.to_builtins(figures.calls_report(session, org.id, first=first, last=last, user_ids=team,
                                                               group=group))
                assert got == _brute([c for c in left if c["user_id"] in team], zone, hours_of, first, last,
                                     group), ("team", group)
            got = msgspec.to_builtins(figures.missed_report(session, org.id, first=first, last=last, user_ids=None))
            assert got == _brute_missed(left, zone, first, last)
            # A team's missed calls: returned by anyone, the team or not.
            got = msgspec.to_builtins(figures.missed_report(session, org.id, first=first, last=last, user_ids=team))
            assert got == [item for item in _brute_missed(left, zone, first, last) if item["user_id"] in team]
            _month_rows_equal_those_made_afresh(session, org.id)
        finally:
            session.rollback()


def _month_rows_equal_those_made_afresh(session, organization_id):
    """PostgreSQL: the month rows kept through the processing runs, the
    erasure and the purge are those made afresh from the day rows left."""
    from sqlalchemy import text

    from mobile_sync.store import rollup_months

    if session.get_bind().dialect.name != "postgresql":
        return
    params = {"org": organization_id}
    read = text("SELECT * FROM report_call_months WHERE organization_id = :org ORDER BY month, user_id")
    kept = session.execute(read, params).all()
    session.execute(text("DELETE FROM report_call_months WHERE organization_id = :org"), params)
    rollup_months.refresh_call_months(session, organization_id, session.execute(text(
        "SELECT user_id, day FROM report_call_days WHERE organization_id = :org"), params).all())
    assert session.execute(read, params).all() == kept


def test_a_call_at_half_past_midnight_is_on_that_local_day_across_dst(clean_app):
    """1 November 2026, New York: clocks go back at 02:00. 00:30 that day and
    the day after are each on their own local day."""
    from mobile_sync.reports.rollup import OrgClock

    class Clock(OrgClock):
        def __init__(self):
            self.zone, self.hours = ZoneInfo("America/New_York"), {}

    clock = Clock()
    for day in (date(2026, 11, 1), date(2026, 11, 2), date(2026, 3, 8), date(2026, 3, 9)):
        half_past = datetime(day.year, day.month, day.day, 0, 30, tzinfo=ZoneInfo("America/New_York"))
        assert clock.day_of(half_past.astimezone(timezone.utc)) == day
        assert clock.start_of(day) <= half_past.astimezone(timezone.utc) < clock.start_of(day + timedelta(days=1))
