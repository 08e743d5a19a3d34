"""The rep's phone book, minimised: by default only a keyed hash of each
number with the Android contact id ("this number is in the rep's phone
book"); names and e-mails only when the organisation keeps phone contacts."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mobile_sync.store.models.base import Base, OrgScoped


class PhonebookContact(Base, OrgScoped):
    __tablename__ = "phonebook_contacts"
    __table_args__ = (UniqueConstraint("device_id", "android_contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    android_contact_id: Mapped[int] = mapped_column(BigInteger)
    last_updated_ms: Mapped[int] = mapped_column(BigInteger)
    # Kept only with the organisation's `keep_phone_contacts` setting.
    display_name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    emails: Mapped[list | None] = mapped_column(JSON)


class PhonebookNumber(Base, OrgScoped):
    __tablename__ = "phonebook_numbers"
    __table_args__ = (
        UniqueConstraint("contact_id", "number_hash"),
        Index("ix_phonebook_numbers_user_hash", "user_id", "number_hash"),
        Index("ix_phonebook_numbers_org_hash", "organization_id", "number_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("phonebook_contacts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    number_hash: Mapped[str] = mapped_column(String(64))
    # The E.164 form in clear, only with `keep_phone_contacts`.
    e164: Mapped[str | None] = mapped_column(String(20))
