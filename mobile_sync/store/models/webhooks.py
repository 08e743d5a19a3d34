"""Webhook endpoints of an organisation and the deliveries owed to them.

A delivery row holds the event's type and the ids it is about, never a body:
the body is built from the records when it is sent, so an erasure or a
withdrawn consent in between is respected. Secrets are stored sealed
(`mobile_sync.webhooks.sealing`)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow


class WebhookEndpoint(Base, OrgScoped):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why it was turned off by the service: "gone" (410) or "failing" (3 days); NULL: by an admin or on.
    disabled_reason: Mapped[str | None] = mapped_column(String(16))
    secret: Mapped[str] = mapped_column(String(500))
    # The secret before the last rotation keeps signing (a second signature) until then.
    previous_secret: Mapped[str | None] = mapped_column(String(500))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first failure since the last success; NULL while deliveries succeed.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base, OrgScoped):
    """One event for one endpoint, with its attempts; a retry keeps `message_id`."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
                      Index("ix_webhook_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    # The ids the event is about ({"lead_id": 7}, {"upload_id": 3, "device_id": 2}): no personal data.
    subject: Mapped[dict] = mapped_column(JSON)
    # pending, delivered, failed, cancelled (nothing left that may be sent)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(32))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A sender holds the delivery until then; after it, the sweep takes it again (a dead worker).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
