"""CRM records a call can match: contacts and leads, and the phone index
over every number of the organisation."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow

LEAD_STATUSES = ("pending_review", "approved", "rejected", "merged")


class Contact(Base, OrgScoped):
    """A customer in the organisation's CRM."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the list, search and creation-order indexes start
    # with it, and a bulk import paid for one more index per contact.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
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
    # One lead per (organisation, number): concurrent uploads make one.
    # ix_leads_report: the leads report reads its range from the index alone
    # on PostgreSQL (mobile_sync.store.lead_figures).
    __table_args__ = (Index("ix_leads_org_created", "organization_id", "created_at"),
                      Index("ix_leads_report", "organization_id", "created_at", postgresql_include=[
                          "source", "status", "owner_id", "first_call_at", "first_response_at"]),
                      UniqueConstraint("organization_id", "phone"))

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
    reject_reason: Mapped[str | None] = mapped_column(String(16))
    created_from_call_id: Mapped[int | None] = mapped_column(Integer)
    merged_into_type: Mapped[str | None] = mapped_column(String(16))
    merged_into_id: Mapped[int | None] = mapped_column(Integer)
    # The first processed outgoing call with its number at or after its first
    # call (else its creation): kept by mobile_sync.store.lead_figures.
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Its review history, oldest first; written by mobile_sync.leads only.
    events: Mapped[list["LeadEvent"]] = relationship(viewonly=True, order_by="LeadEvent.id")


class LeadEvent(Base, OrgScoped):
    """One review action on a lead: who did what and when. Ids, the action
    and a short code only (a reason, the edited fields' names, a record
    type), never a name or a number. Deleted with its lead (erasure)."""

    __tablename__ = "lead_events"
    __table_args__ = (Index("ix_lead_events_lead", "lead_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[str | None] = mapped_column(String(64))
    # A reassignment's previous and new owner.
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


def _list_indexes(model, table: str) -> None:
    """Indexes for the search box's prefixes of name, company and e-mail
    (mobile_sync.record_search): on lower(column), with PostgreSQL's
    pattern operator class (byte order, whatever the collation), then the id,
    so that a page of a prefix comes out of the index in order
    (mobile_sync.record_pages); then created_at, and on PostgreSQL the column
    itself (INCLUDE: its planner reads an expression index alone only when
    the expression's columns are in it), so that a prefix's matches newest
    first are read from the index alone (mobile_sync.store.list_pages); and
    for the orders of a list that carry no prefix: newest first, latest call
    first."""
    for column in ("name", "company", "email"):
        key = f"{column}_lower"
        Index(f"ix_{table}_{column}_prefix", model.organization_id, func.lower(getattr(model, column)).label(key),
              model.id, model.created_at, postgresql_ops={key: "text_pattern_ops"}, postgresql_include=[column])
    Index(f"ix_{table}_org_last_call", model.organization_id, model.last_call_at, model.id)


_list_indexes(Contact, "contacts")
Index("ix_contacts_org_created", Contact.organization_id, Contact.created_at, Contact.id)
_list_indexes(Lead, "leads")


class RecordPhone(Base, OrgScoped):
    """One number of one record: the phone index that caller ID probes.

    `record_type` is "contact", "lead" or "user" (a colleague). The suffix key
    holds the last digits of the national significant number.
    """

    __tablename__ = "record_phones"
    __table_args__ = (
        UniqueConstraint("organization_id", "record_type", "record_id", "e164"),
        # The exact probe's index covers what it reads, so that SQLite plans it
        # here and not on the unique index above (also covering, through its
        # first column only: a scan of the organisation) even with no statistics.
        Index("ix_record_phones_org_e164_record", "organization_id", "e164", "record_type", "record_id"),
        Index("ix_record_phones_org_suffix", "organization_id", "suffix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the indexes above start with it. A third index on
    # the organisation alone only slowed bulk inserts, and without statistics
    # PostgreSQL probed it (an organisation's every number) instead of
    # (organization_id, e164): 6 s for a batch's matching on a new organisation.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int] = mapped_column(Integer)
    e164: Mapped[str] = mapped_column(String(20))
    suffix: Mapped[str] = mapped_column(String(16))
    raw: Mapped[str | None] = mapped_column(String(64))
    extension: Mapped[str | None] = mapped_column(String(16))


class Note(Base, OrgScoped):
    """A note on a contact or lead, e.g. typed on the phone after a call."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_record", "organization_id", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Task(Base, OrgScoped):
    """A call-back task: a known customer's call was missed."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_owner_status", "organization_id", "owner_id", "status"),
                      Index("ix_tasks_org_e164", "organization_id", "e164"))

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    record_type: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int] = mapped_column(Integer)
    e164: Mapped[str | None] = mapped_column(String(20))
    call_id: Mapped[int | None] = mapped_column(Integer)
    missed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    missed_count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_reason: Mapped[str | None] = mapped_column(String(32))


class Suppression(Base, OrgScoped):
    """A number that must not become a lead again: rejected as spam (for the
    whole organisation, `user_id` NULL) or as personal (for that rep)."""

    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_org_hash", "organization_id", "number_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(16))
    lead_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
