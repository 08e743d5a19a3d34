"""Office hours are read on the user's local clock: windows past midnight
belong to the day they start, and a daylight-saving change keeps the hours."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from mobile_sync.office_hours import describe_hours, within_hours

KOLKATA, LONDON = ZoneInfo("Asia/Kolkata"), ZoneInfo("Europe/London")
WEEKDAYS = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}
NIGHTS = {"days": [0], "start": "22:00", "end": "06:00"}  # Monday night into Tuesday


def local(zone, *parts):
    return datetime(*parts, tzinfo=zone).astimezone(timezone.utc)


@pytest.mark.parametrize("moment, inside", [
    (local(KOLKATA, 2026, 12, 7, 9, 0), True),      # Monday 09:00 local
    (local(KOLKATA, 2026, 12, 7, 18, 0), True),
    (local(KOLKATA, 2026, 12, 7, 18, 1), False),
    (local(KOLKATA, 2026, 12, 7, 8, 59), False),
    (local(KOLKATA, 2026, 12, 12, 11, 0), False),   # Saturday
    (datetime(2026, 12, 7, 4, 0, tzinfo=timezone.utc), True),   # 09:30 in Kolkata, 04:00 UTC
])
def test_a_day_window_is_read_in_the_users_zone(moment, inside):
    assert within_hours(WEEKDAYS, moment, KOLKATA) is inside


@pytest.mark.parametrize("moment, inside", [
    (local(LONDON, 2026, 12, 7, 23, 0), True),     # Monday night
    (local(LONDON, 2026, 12, 8, 3, 0), True),      # Tuesday early: Monday's window
    (local(LONDON, 2026, 12, 8, 6, 1), False),
    (local(LONDON, 2026, 12, 8, 23, 0), False),    # Tuesday night: no window starts Tuesday
    (local(LONDON, 2026, 12, 7, 3, 0), False),     # Monday early: Sunday's window, not set
])
def test_a_window_past_midnight_belongs_to_the_day_it_starts(moment, inside):
    assert within_hours(NIGHTS, moment, LONDON) is inside


def test_hours_keep_the_local_clock_across_a_daylight_saving_change():
    # London moves to BST on Sunday 29 March 2026; 09:00 local is 09:00 UTC before, 08:00 UTC after.
    before = datetime(2026, 3, 27, 8, 30, tzinfo=timezone.utc)   # Friday 08:30 GMT
    after = datetime(2026, 3, 30, 8, 30, tzinfo=timezone.utc)    # Monday 09:30 BST
    assert not within_hours(WEEKDAYS, before, LONDON)
    assert within_hours(WEEKDAYS, after, LONDON)


def test_hours_in_words():
    assert describe_hours(WEEKDAYS) == "Monday–Friday, 09:00–18:00"
    assert describe_hours(NIGHTS) == "Monday, 22:00–06:00 (ends the next day)"
    assert describe_hours(None) == "Not set"
