"""Office hours: when a user (or, for the auto-lead rule, the organisation)
works, as `{"days": [0..6], "start": "HH:MM", "end": "HH:MM"}` in a zone.

`days` are the days a working window *starts* on (0 = Monday). An `end` at or
before `start` runs past midnight into the next day (a night shift of 22:00 to
06:00 on Monday covers Tuesday 03:00). Both ends are read on the local clock,
so a window keeps its hours across a daylight-saving change.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


def within_hours(hours: dict, moment: datetime, tz: ZoneInfo) -> bool:
    """Whether `moment` (aware) falls inside `hours` read in `tz`."""
    local = moment.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    days = hours.get("days", EVERY_DAY)
    start = time.fromisoformat(hours.get("start", "00:00"))
    end = time.fromisoformat(hours.get("end", "23:59"))
    if start < end:
        return local.weekday() in days and start <= clock <= end
    # Past midnight: the evening part belongs to today's window, the early
    # part to the window that started yesterday.
    if clock >= start:
        return local.weekday() in days
    yesterday = (local.date() - timedelta(days=1)).weekday()
    return clock <= end and yesterday in days


def describe_hours(hours: dict | None) -> str:
    """The hours in words, for pages: "Monday–Friday, 09:00–18:00"."""
    if not hours:
        return "Not set"
    days = sorted(set(hours.get("days", EVERY_DAY)))
    if not days:
        return "No working days"
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        named = f"{DAY_NAMES[days[0]]}–{DAY_NAMES[days[-1]]}"
    else:
        named = ", ".join(DAY_NAMES[day] for day in days)
    overnight = " (ends the next day)" if hours.get("end", "23:59") <= hours.get("start", "00:00") else ""
    return f"{named}, {hours.get('start', '00:00')}–{hours.get('end', '23:59')}{overnight}"
