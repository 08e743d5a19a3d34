"""The leads report's rollup: sums of the leads created per organisation,
UTC day and source, kept on PostgreSQL by triggers on `leads`
(mobile_sync.store.lead_rollup says how they stay exact).

Derived data, not `OrgScoped`, like the calls' rollups: the export leaves it
out, `flask reports-rebuild` makes it again. On SQLite the table exists and
stays empty: the report reads the leads there."""
from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, Integer, LargeBinary, String, Table, event
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base

class LeadDay(Base):
    """The leads of an organisation created on one UTC day with one source:
    how many, how many of each status now, and the responded ones' delays to
    their first response (the report's median is taken over a range's)."""

    __tablename__ = "report_lead_days"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    created: Mapped[int] = mapped_column(Integer, default=0)
    approved: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    # The responded leads' delays in whole seconds, sorted, packed as
    # big-endian 64-bit integers (PostgreSQL's `int8send`); None if none.
    delays: Mapped[bytes | None] = mapped_column(LargeBinary)


# The buckets a transaction's statements touched, noted by the triggers on
# `leads` and worked out again at its commit (then deleted): rows live only
# inside their transaction. No key: a bucket is noted once a statement.
PENDING = Table("report_lead_days_pending", Base.metadata,
                Column("tx", BigInteger, nullable=False),
                Column("organization_id", Integer, nullable=False),
                Column("day", Date, nullable=False),
                Index("ix_report_lead_days_pending_tx", "tx"))


def _with_its_triggers(table, connection, **kw) -> None:
    # Made from the models (a benchmark's remade tables): the triggers and
    # the rows come with the two tables, once both are made (in either
    # order), as the migration makes them.
    from mobile_sync.store.lead_rollup import install_triggers

    install_triggers(connection)


event.listen(LeadDay.__table__, "after_create", _with_its_triggers)
event.listen(PENDING, "after_create", _with_its_triggers)
