"""What is left of an erased number: a salted hash, so later uploads of it
are dropped instead of bringing the person back."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow


class ErasedNumber(Base, OrgScoped):
    __tablename__ = "erased_numbers"
    __table_args__ = (UniqueConstraint("organization_id", "number_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number_hash: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
