"""A contact file's import run in the background (`mobile_sync.contact_imports`)
and the uploaded file, kept in the database in chunks so that a worker on
another machine can read it; the chunks go when the run ends, or after a day.

`running_for` holds the organisation's id while the run is queued or
running and NULL after: its unique index lets one import at a time run per
organisation (NULLs never collide), decided by the database, not by a read."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow


class ContactImportRun(Base, OrgScoped):
    __tablename__ = "contact_import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # the contacts' owner
    running_for: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    # queued, running, done, failed
    state: Mapped[str] = mapped_column(String(16), default="queued")
    filename: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(2))  # the importer's, for national numbers
    mapping: Mapped[dict | None] = mapped_column(JSON)  # column → field, when the importer changed it
    format: Mapped[str | None] = mapped_column(String(32))
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list] = mapped_column(JSON, default=list)  # the first ones: {"line", "message"}
    message: Mapped[str | None] = mapped_column(Text)  # why a failed run stopped
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContactImportChunk(Base):
    """One piece of an import's file, in order of `seq`. Not OrgScoped, like
    the report rollups: a file in transit is left out of the organisation's
    data export; its `organization_id` scopes it all the same."""

    __tablename__ = "contact_import_chunks"

    run_id: Mapped[int] = mapped_column(ForeignKey("contact_import_runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
