"""Call-log rows uploaded by phones (Android `CallLog.Calls`), and uploads."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow

class SyncUpload(Base, OrgScoped):
    """One accepted upload. Doubles as the processing outbox: written in the
    same transaction as its rows, it stays pending until a job has processed
    them, so a Redis outage or a killed worker loses nothing."""

    __tablename__ = "sync_uploads"
    __table_args__ = (Index("ix_sync_uploads_pending", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    batch_id: Mapped[str | None] = mapped_column(String(100))
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Processing runs that failed on this upload alone; at `MAX_FAILURES`
    # (mobile_sync.process_calls) it is set aside for an admin to look at,
    # and the organisation's other uploads go on. `last_error` is the
    # exception's class name only: never data.
    failures: Mapped[int] = mapped_column(Integer, server_default="0")  # no Python default: driver_rows inserts
    last_error: Mapped[str | None] = mapped_column(String(64))
    set_aside_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Call(Base, OrgScoped):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("device_id", "android_id", "date_ms"),
        Index("ix_calls_org_e164_started", "organization_id", "e164", "started_at"),
        Index("ix_calls_record", "record_type", "record_id"),
        Index("ix_calls_org_started", "organization_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No single-column indexes on these two: (organization_id, e164),
    # (organization_id, started_at) and the unique (device_id, _id, date) cover
    # them, and every insert and outcome update pays for each index kept.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("sync_uploads.id", ondelete="SET NULL"), index=True)
    android_id: Mapped[int] = mapped_column(BigInteger)
    date_ms: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[int] = mapped_column(Integer)
    call_type: Mapped[int] = mapped_column(SmallInteger)
    presentation: Mapped[int] = mapped_column(SmallInteger)
    raw_number: Mapped[str | None] = mapped_column(String(64))
    e164: Mapped[str | None] = mapped_column(String(20))
    number_status: Mapped[str] = mapped_column(String(16))
    extension: Mapped[str | None] = mapped_column(String(16))
    countryiso: Mapped[str | None] = mapped_column(String(2))
    cached_name: Mapped[str | None] = mapped_column(String(200))
    via_number: Mapped[str | None] = mapped_column(String(64))
    via_e164: Mapped[str | None] = mapped_column(String(20))
    subscription_id: Mapped[str | None] = mapped_column(String(64))
    last_modified_ms: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    record_type: Mapped[str | None] = mapped_column(String(16))
    record_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(32))


class SyncCursor(Base, OrgScoped):
    """Where a phone's upload of one kind got to, so a reinstall can resume."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("device_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
