"""What every CRM connector speaks: the records sent and read, the errors a
CRM's answers become, and the one interface each CRM's client implements
(`mobile_sync/crm/hubspot.py`, `mobile_sync/crm/pipedrive.py`).

A client is plain HTTP against the CRM's documented API at `base_url` (the
real host in production, a fake server on 127.0.0.1 in tests), with the
organisation's API token. It holds no database session: the delivery
machinery (`mobile_sync/crm/delivery.py`) decides what to send, records what
came back, and turns the errors below into retries."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class CrmCall:
    """One of our calls, as a CRM's call log needs it."""
    call_id: int  # ours: the idempotency key, written into the CRM's record
    number_e164: str
    direction: str  # "incoming" | "outgoing" | "missed" | "rejected"
    started_at: datetime  # aware, UTC
    duration_s: int
    rep_name: str | None = None
    contact_name: str | None = None


@dataclass(frozen=True)
class CrmPerson:
    """A person (contact) read from a CRM by the pull."""
    external_id: str
    name: str | None
    company: str | None
    email: str | None
    phones: list[str] = field(default_factory=list)  # as the CRM holds them: normalised by our import
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PeoplePage:
    people: list[CrmPerson]
    cursor: str | None  # the next page's cursor; None when this was the last
    # People deleted (or merged away) in the CRM since `since`, with what the
    # CRM still says of them: their links here are undone (`deleted_people`).
    deleted: list[CrmPerson] = field(default_factory=list)


class CrmError(Exception):
    """A CRM refused or failed a request. `status` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RateLimited(CrmError):
    """429, or the CRM's own budget headers say wait: retry after `retry_after_s`."""

    def __init__(self, retry_after_s: float, status: int | None = 429):
        super().__init__(f"rate limited for {retry_after_s:.1f} s", status)
        self.retry_after_s = retry_after_s


class AuthFailed(CrmError):
    """401/403: the token is wrong or revoked; retrying will not help until an
    admin fixes the connection."""


class TransientError(CrmError):
    """A timeout, a refused connection, a 5xx: retry with back-off."""


class PermanentError(CrmError):
    """A 4xx other than the above: this item will never succeed as sent."""


class CrmClient(Protocol):
    name: str  # "hubspot" | "pipedrive"

    def check(self) -> None:
        """One cheap authenticated request; raises AuthFailed on a bad token."""

    def find_or_create_person(self, number_e164: str, name: str | None) -> str:
        """The CRM's id of the person holding `number_e164`, created if none."""

    def find_logged_call(self, call_id: int) -> str | None:
        """The CRM's id of the call log already carrying our `call_id`, if any:
        asked before logging again after an attempt whose outcome is unknown."""

    def log_call(self, person_id: str, call: CrmCall) -> str:
        """Log `call` against the person; the CRM's id of the new call log."""

    def people_updated_since(self, since: datetime | None, cursor: str | None) -> PeoplePage:
        """One page of the people changed after `since` (all when None), and
        of those deleted in the CRM after `since`, as far as the CRM tells.
        The cursor is the client's own: it may walk more than one of the
        CRM's lists."""
