"""How long recorded pushes are kept: a week past their TTL (long enough to
look into a delivery complaint), then deleted. Without it `push_messages`
grew for ever: a row per device per ring.

Deleted in bounded batches, each one organisation's and found through its
(organisation, created_at) index, so that a batch is a short transaction
(SQLite's write lock, PostgreSQL's row locks) whatever the backlog."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from mobile_sync.store.models import Organization, PushMessage

KEPT_AFTER_EXPIRY = timedelta(days=7)
BATCH_SIZE = 5_000


def push_purge_cutoff(now: datetime) -> datetime:
    """Messages that expired before this time are deleted."""
    return now - KEPT_AFTER_EXPIRY


def organizations_with_pushes_to_purge(session, now: datetime) -> list[int]:
    """Ids of the organisations that have a message created before the cutoff
    (none expired after it was created later)."""
    cutoff = push_purge_cutoff(now)
    has_old = select(PushMessage.id).where(PushMessage.organization_id == Organization.id,
                                           PushMessage.created_at < cutoff).exists()
    return list(session.execute(select(Organization.id).where(has_old).order_by(Organization.id)
                                .execution_options(all_organizations=True)).scalars())


def purge_expired_pushes(session, organization_id: int, now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Delete up to `batch_size` of the organisation's messages that expired
    more than KEPT_AFTER_EXPIRY ago; return how many. Flushes, never commits:
    the caller commits each batch and calls again while a batch comes back full."""
    cutoff = push_purge_cutoff(now)
    # created_at < cutoff bounds the index range; expires_at (created + TTL) decides.
    doomed = (select(PushMessage.id)
              .where(PushMessage.organization_id == organization_id, PushMessage.created_at < cutoff,
                     PushMessage.expires_at < cutoff)
              .order_by(PushMessage.created_at).limit(batch_size))
    deleted = session.execute(delete(PushMessage).where(PushMessage.id.in_(doomed.scalar_subquery()))
                              .execution_options(synchronize_session=False)).rowcount
    session.flush()
    return deleted
