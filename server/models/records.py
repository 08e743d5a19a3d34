"""CRM records a call can match: contacts and leads, and the phone index
over every number of the organisation."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, OrgScoped, UTCDateTime, utcnow

LEAD_STATUSES = ("pending_review", "approved", "rejected", "merged")


class Contact(Base, OrgScoped):
    """A customer in the organisation's CRM."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    source: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_spoken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_call_type: Mapped[int | None] = mapped_column(SmallInteger)
    last_note: Mapped[str | None] = mapped_column(Text)


class Lead(Base, OrgScoped):
    """A possible customer, usually made from a call with an unknown number."""

    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_org_created", "organization_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    company: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(100), default="phone_call")
    status: Mapped[str] = mapped_column(String(16), default="pending_review")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    first_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    calls_count: Mapped[int] = mapped_column(Integer, default=0)
    last_spoken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_call_type: Mapped[int | None] = mapped_column(SmallInteger)
    last_note: Mapped[str | None] = mapped_column(Text)
    merged_into_type: Mapped[str | None] = mapped_column(String(16))
    merged_into_id: Mapped[int | None] = mapped_column(Integer)


class RecordPhone(Base, OrgScoped):
    """One number of one record: the phone index that caller ID probes.

    `record_type` is "contact", "lead" or "user" (a colleague). The suffix key
    holds the last digits of the national significant number.
    """

    __tablename__ = "record_phones"
    __table_args__ = (
        UniqueConstraint("organization_id", "record_type", "record_id", "e164"),
        Index("ix_record_phones_org_e164", "organization_id", "e164"),
        Index("ix_record_phones_org_suffix", "organization_id", "suffix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int] = mapped_column(Integer)
    e164: Mapped[str] = mapped_column(String(20))
    suffix: Mapped[str] = mapped_column(String(16))
    raw: Mapped[str | None] = mapped_column(String(64))
    extension: Mapped[str | None] = mapped_column(String(16))
