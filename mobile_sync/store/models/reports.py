"""Report rollups: what the processing job keeps so that reports never read
the raw call log (mobile_sync.reports.rollup says how they stay exact).

Derived data, not `OrgScoped`: the organisation's export leaves them out
(they hold nothing the calls do not), and after an import `flask
reports-rebuild` makes them again. Every statement on them names the
organisation itself (mobile_sync/store/rollups.py; tests/api/store_tenancy_cases.py)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, LargeBinary
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, UTCDateTime


# Sorted integers: a PostgreSQL array (the reports' `width_bucket` searches
# it); on SQLite, packed unsigned 32-bit integers read in Python.
GAPS = LargeBinary().with_variant(ARRAY(Integer), "postgresql")
# A month's 2-D array of sums (`CallMonth.tails`): 64-bit on PostgreSQL; unused on SQLite.
TAILS = LargeBinary().with_variant(ARRAY(BigInteger, dimensions=2), "postgresql")
# The gap of a number the user never called before that day.
NEVER = 1_000_000


class CallDay(Base):
    """One user's processed calls on one local day (the organisation's zone).

    `numbers` is the day's distinct called numbers, each an E.164 number's
    digits as an unsigned 64-bit integer (injective: E.164 has at most 15
    digits and never a leading zero), packed little-endian and sorted: a
    range's unique numbers are the size of a union, never a sum.
    `callbacks` packs, as unsigned 32-bit integers, the seconds to call back
    of the day's missed calls that were returned; `hours_counted` counts
    the calls made while the user had office hours, `in_hours` those inside.

    `gaps`, sorted ascending: for each of the day's numbers, the days since
    the user's previous day with it (`NEVER` if none). A number counts in the
    unique numbers of a range from day `a` on the day it is called when its
    gap exceeds `day - a`, that is once, on its first day in the range: a
    user's unique numbers over any range are a sum over its rows, and
    `width_bucket(day - a, gaps)` counts those that do not."""

    __tablename__ = "report_call_days"
    # The key serves the reports (an organisation's days, every user); the
    # index a user's days (recomputing them, a user's deletion).
    __table_args__ = (Index("ix_report_call_days_user_day", "user_id", "day"),)

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    incoming: Mapped[int] = mapped_column(Integer, default=0)
    outgoing: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    connected: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds: Mapped[int] = mapped_column(Integer, default=0)
    unique_numbers: Mapped[int] = mapped_column(Integer, default=0)
    in_hours: Mapped[int] = mapped_column(Integer, default=0)
    hours_counted: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)
    numbers: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    callbacks: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    gaps: Mapped[object] = mapped_column(GAPS, nullable=True)


class OrgDay(Base):
    """The organisation's processed calls on one local day: the sums of its
    users' rows that day, and the team's distinct numbers (the size of the
    union of its users' sets): the calls report grouped by day reads one
    row a day. Worked out again from the day's user rows whenever one changes."""

    __tablename__ = "report_org_days"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    incoming: Mapped[int] = mapped_column(Integer, default=0)
    outgoing: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    connected: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    unique_numbers: Mapped[int] = mapped_column(Integer, default=0)
    in_hours: Mapped[int] = mapped_column(Integer, default=0)
    hours_counted: Mapped[int] = mapped_column(Integer, default=0)


class CallMonth(Base):
    """One user's calendar month of `report_call_days` rows, on PostgreSQL:
    a 90-day range reads ~4 rows a user instead of ~90. Worked out in the
    store from the day rows (`rollups.refresh_call_months`) by every write
    and deletion of day rows, so it cannot drift from them; unused on
    SQLite, where the reports read the day rows.

    `days`: one slot a calendar day of the month, each ten big-endian 32-bit
    integers: the day (days since 1970-01-01; 0: no row that day), then
    `report_reads.ITEM_FIGURES`. A range's days are a substring of it.
    The SUMMED columns: the month's sums. `prevs`, sorted: for each number
    first called in the month, its previous day (days since 1970-01-01;
    `NEVER` days before its first if none). Over a range from day `a` that
    holds the whole month, such a number counts in the user's unique
    numbers iff its previous day is before `a` (the month's later calls of
    a number never count: their previous day is in the range).
    `tails[i]`, for the month's (i+1)th day `x`: the SUMMED sums from `x` to
    the month's end, how many numbers of those days count over a range
    starting at `x` (their previous day before `x`), and how many day rows
    they are: a range starting inside the month reads its first month from
    one row. `day_rows`: the month's day rows.

    Rows of ~5 KB: `toast_tuple_target` keeps them whole (uncompressed, in
    line) below 8 KB, so a read decompresses nothing."""

    __tablename__ = "report_call_months"
    __table_args__ = (Index("ix_report_call_months_user_month", "user_id", "month"),
                      {"postgresql_with": {"toast_tuple_target": 8160}})

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    incoming: Mapped[int] = mapped_column(Integer, default=0)
    outgoing: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    connected: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    in_hours: Mapped[int] = mapped_column(Integer, default=0)
    hours_counted: Mapped[int] = mapped_column(Integer, default=0)
    day_rows: Mapped[int] = mapped_column(Integer, default=0)
    days: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    prevs: Mapped[object] = mapped_column(GAPS, nullable=True)
    tails: Mapped[object] = mapped_column(TAILS, nullable=True)


class MissedCallback(Base):
    """A processed missed call and the call that returned it, if any: the
    first later outgoing or connected call with its number by anyone of the
    organisation. No foreign key at all: each key checked cost every
    processing run's upsert of these rows a look-up a row (revisions
    b3d5f7a9c1e4: its organisation and user; 7b2c3d4e5f60: its call, half
    the upsert's time). Every deletion removes the rows itself instead: a
    deletion of calls through the store's hook (`call_deletions`: the
    rollups work the deleted span's days out again, its missed rows with
    them), an organisation's deletion through the same hook
    (its listener sees `delete(Organization)` and deletes them first);
    `reports-rebuild` removes them all first.
    A callback call deleted is found again by `callback_call_id`."""

    __tablename__ = "report_missed_calls"
    # A user's days (recomputing them) and the call backs of a span of time
    # (repairing those of deleted calls). The missed calls a new call with a
    # number may return sooner are found by an index on (organisation,
    # number, call back or 'infinity'), declared in `store.rollup_missed`
    # with the statement that reads it.
    __table_args__ = (Index("ix_report_missed_calls_user_day", "user_id", "day"),
                      Index("ix_report_missed_calls_org_callback", "organization_id", "callback_at"))

    call_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    organization_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    number: Mapped[int | None] = mapped_column(BigInteger)
    callback_call_id: Mapped[int | None] = mapped_column(Integer)
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# What a day row sums (user and organisation rows alike; a month row's sums).
SUMMED = ("incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds", "in_hours", "hours_counted")
# The calls report per user and day reads a range's figures from this index
# alone on PostgreSQL (`mobile_sync.store.report_reads`), not the wide rows;
# elsewhere it is the primary key's columns again.
ITEM_FIGURES = ("incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds", "unique_numbers",
                "hours_counted", "in_hours")
Index("ix_report_call_days_items", CallDay.organization_id, CallDay.day, CallDay.user_id,
      postgresql_include=list(ITEM_FIGURES))
