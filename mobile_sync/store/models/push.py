"""Every push sent (or meant to be sent) to a phone, without personal data:
the data values are opaque ids or sealed for the device alone."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow


class PushMessage(Base, OrgScoped):
    __tablename__ = "push_messages"
    __table_args__ = (Index("ix_push_messages_push_id", "push_id"),
                      Index("ix_push_messages_org_created", "organization_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    push_id: Mapped[str] = mapped_column(String(36))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    collapse_key: Mapped[str] = mapped_column(String(64))
    ttl_s: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(64))
    fcm_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DirectoryChange(Base, OrgScoped):
    """A number whose caller card changed; phones pull changes after a cursor."""

    __tablename__ = "directory_changes"
    __table_args__ = (Index("ix_directory_changes_org_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: ix_directory_changes_org_id starts with it.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
