"""Phones registered by users, and the consent each phone recorded."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow

CONSENT_SCOPES = ("contacts", "call_log")


class Device(Base, OrgScoped):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(100))
    os_version: Mapped[str | None] = mapped_column(String(32))
    app_version: Mapped[str | None] = mapped_column(String(32))
    fcm_token: Mapped[str | None] = mapped_column(String(4096))
    # The Firebase installation ID, for an app in FCM's installation-ID mode
    # (`onRegistered`, no registration token); preferred over the token.
    fcm_fid: Mapped[str | None] = mapped_column(String(255))
    push_public_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Work SIM only: the Android PHONE_ACCOUNT_IDs whose calls are kept; NULL
    # (or empty): every account's (`mobile_sync.devices.set_tracking`).
    tracked_accounts: Mapped[list | None] = mapped_column(JSON)
    # The app's latest health report (battery optimisation, autostart,
    # permissions, app version) and when it came (`mobile_sync.sync_health`).
    health: Mapped[dict | None] = mapped_column(JSON)
    health_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the phone was last asked by push to open the app (at most daily).
    nudged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PrivateNumber(Base, OrgScoped):
    """A number a user marked private: its keyed hash and a hint of two
    digits, never the number (`mobile_sync.private_numbers`)."""

    __tablename__ = "private_numbers"
    __table_args__ = (UniqueConstraint("user_id", "number_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    number_hash: Mapped[str] = mapped_column(String(64))
    hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SilentPhonesDigest(Base, OrgScoped):
    """One row per organisation and day the silent-phones digest went out,
    written before it is sent, so a job run twice sends it once."""

    __tablename__ = "silent_phones_digests"
    __table_args__ = (UniqueConstraint("organization_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10))
    phones: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentState(Base, OrgScoped):
    """The current consent of one device for one scope."""

    __tablename__ = "consent_states"
    __table_args__ = (UniqueConstraint("device_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    policy_version: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentEvent(Base, OrgScoped):
    """Every grant or revocation, kept as the record of what was agreed when."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    policy_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
