"""Organisations, their users, invites, tokens and integration keys."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mobile_sync.roles import ROLES
from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow



class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(2))
    plan: Mapped[str] = mapped_column(String(32), default="trial")
    trial_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closing_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base, OrgScoped):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(2))
    # The teammate's own work number, E.164: calls from it are never leads.
    phone: Mapped[str | None] = mapped_column(String(20))
    # The user's own IANA zone for the times pages show them; NULL: the organisation's.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # {"days": [0..6] (0 = Monday), "start": "HH:MM", "end": "HH:MM"} in the
    # user's zone (mobile_sync.office_hours); NULL: not set.
    office_hours: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship(lazy="joined")


class AccessToken(Base, OrgScoped):
    """A bearer token: a user's, or a device's when `device_id` is set.

    Only the SHA-256 of the token is stored; tokens are 256-bit random values,
    so a fast hash is enough and keeps every request's look-up cheap.
    """

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the token last opened a request, to the nearest few minutes
    # (written at most once per `store.credentials.TOUCH_EVERY`).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Invite(Base, OrgScoped):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Set to NULL when the invite is withdrawn: the address is forgotten.
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery: Mapped[str] = mapped_column(String(16), default="pending")


class PasswordReset(Base, OrgScoped):
    """A one-time link to set a new password, e-mailed on request.

    Only the SHA-256 of the token is stored, as for bearer tokens; the link
    works once (`used_at`) and until `expires_at` (an hour at most).
    """

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base, OrgScoped):
    """An organisation's integration key (PBX / call-tracking webhooks)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """One failed login, keyed by a hash of the account or client address.

    Kept in the database so every gunicorn worker sees the same count.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key_hash", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["ROLES", "Organization", "User", "AccessToken", "Invite", "PasswordReset", "ApiKey", "LoginFailure"]
