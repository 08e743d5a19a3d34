"""CRM connectors (HubSpot, Pipedrive): an organisation's connection to each
CRM and the push items owed to it.

A connection holds its API token sealed (`mobile_sync.webhooks.sealing`) and
the organisation's rules; a push item holds the ids it is about, never a
body: what is sent is read when it is sent, so an erasure or a withdrawn
consent in between is respected. One item per (organisation, CRM, call or
lead): a retry never logs a call twice. A pulled person is linked to the
contact it became, so a person renamed in the CRM renames that contact
instead of adding a second one."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow


class CrmConnection(Base, OrgScoped):
    __tablename__ = "crm_connections"
    __table_args__ = (UniqueConstraint("organization_id", "crm"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    crm: Mapped[str] = mapped_column(String(16))  # "hubspot" | "pipedrive"
    token: Mapped[str] = mapped_column(String(1000))  # sealed
    token_hint: Mapped[str] = mapped_column(String(8))  # its last 4 characters, to recognise it
    # Rules: the call types pushed, the shortest call pushed, approved leads pushed or not.
    call_types: Mapped[list] = mapped_column(JSON, default=list)
    min_duration_s: Mapped[int] = mapped_column(Integer, default=0)
    push_leads: Mapped[bool] = mapped_column(Boolean, default=True)
    pull_every_h: Mapped[int] = mapped_column(Integer, default=0)  # 0: no scheduled pull
    # connected | auth_failed (pushes stop until the token is saved again)
    status: Mapped[str] = mapped_column(String(16), default="connected")
    auth_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(32))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    # The CRM asked us to wait (429): no push to it before then.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Pull: the CRM's "updated since" of the next pull; the pull in progress
    # (its page cursor, kept so that a crash resumes, the latest change it
    # read, and what its pages committed so far did); one pull at a time
    # (held until pull_claimed_until); what the last finished pull did.
    last_pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pull_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pull_cursor: Mapped[str | None] = mapped_column(String(500))
    pull_seen_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pull_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pull_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_pull_count: Mapped[int | None] = mapped_column(Integer)
    last_pull_removed: Mapped[int | None] = mapped_column(Integer)  # contacts deleted: their person was
    pull_people_so_far: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pull_removed_so_far: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CrmPush(Base, OrgScoped):
    """One call or approved lead to push to one CRM, with its attempts."""

    __tablename__ = "crm_pushes"
    __table_args__ = (UniqueConstraint("organization_id", "crm", "subject_type", "subject_id"),
                      Index("ix_crm_pushes_connection_id", "connection_id", "id"),
                      Index("ix_crm_pushes_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("crm_connections.id", ondelete="CASCADE"))
    crm: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str] = mapped_column(String(8))  # "call" | "lead"
    subject_id: Mapped[int] = mapped_column(Integer)
    # pending, delivered, failed, cancelled (nothing left that may be sent)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(32))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A sender holds the item until then; after it, the sweep takes it again (a dead worker).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    external_id: Mapped[str | None] = mapped_column(String(64))  # the CRM's id of what was logged
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CrmPersonLink(Base, OrgScoped):
    """A CRM person the pull imported, and the contact it became."""

    __tablename__ = "crm_person_links"
    __table_args__ = (UniqueConstraint("organization_id", "connection_id", "person_id"),
                      Index("ix_crm_person_links_contact_id", "contact_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("crm_connections.id", ondelete="CASCADE"))
    person_id: Mapped[str] = mapped_column(String(64))  # the CRM's id of the person
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # Keyed hashes (number_hash, purpose CRM_PULLED) of the numbers the CRM gave
    # the person at the last pull: one of them gone from the CRM is taken off
    # the contact; a number a rep added, never among them, is kept.
    pulled_numbers: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
