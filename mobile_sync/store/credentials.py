"""Whose bearer token this is: one statement on every API request, built once
and sent straight to the driver. It returns plain values (the token's, its
user's and device's state, and the organisation's fields every request
reads), so a request that needs no ORM object (a caller-ID look-up, a ring)
makes none; the views that do load them by id (`server.auth.Principal`).

And when a token was last used (`touch_token`): written at most once per
`TOUCH_EVERY`, so "last active" and "last seen" cost a request nothing most
of the time."""
from __future__ import annotations

from collections import namedtuple
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update

from mobile_sync.store.bulk_sql import driver_rows
from mobile_sync.store.dialect import per_engine
from mobile_sync.store.models import AccessToken, Device, Organization, User

# How stale a token's `last_used_at` may get before a request writes it again:
# last active to the nearest few minutes, for one UPDATE per token that often.
TOUCH_EVERY = timedelta(minutes=5)

_HOLDER = (
    select(AccessToken.id.label("token_id"), AccessToken.revoked_at, AccessToken.last_used_at,
           AccessToken.device_id, Device.revoked_at.label("device_revoked_at"),
           User.id.label("user_id"), User.role, User.region, User.disabled_at, User.organization_id,
           Organization.region.label("organization_region"), Organization.plan, Organization.settings,
           Organization.closing_at)
    .join(User, User.id == AccessToken.user_id)
    .join(Organization, Organization.id == User.organization_id)
    .outerjoin(Device, Device.id == AccessToken.device_id)
    .where(AccessToken.token_hash == bindparam("token_hash"))
)
TokenHolder = namedtuple("TokenHolder", [column.key for column in _HOLDER.selected_columns])

_TOKENS = AccessToken.__table__
# Stale by the time of the UPDATE itself: of two requests that both saw a stale
# time, the second (after the first's commit) writes nothing.
_STALE = or_(_TOKENS.c.last_used_at.is_(None), _TOKENS.c.last_used_at < bindparam("cutoff"))
_OWN = _TOKENS.c.organization_id == bindparam("org")


def token_holder(session, token_hash: str) -> TokenHolder | None:
    """The token with this hash and its holder, valid or not (the caller
    decides); None when there is no such token."""
    rows = driver_rows(session.connection(), _HOLDER, {"token_hash": token_hash})
    return TokenHolder(*rows[0]) if rows else None


class _Touching:
    """SQLite: one writer at a time, and every transaction holds the write lock already."""

    statement = (update(_TOKENS).where(_TOKENS.c.id == bindparam("token_id"), _OWN, _STALE)
                 .values(last_used_at=bindparam("now")))


class _PostgresTouching(_Touching):
    """The UPDATE locks the token's row until the request commits. A second
    request with the same token (the phone's caller-ID look-up during its
    upload) that also saw a stale time skips the row rather than wait for
    that commit: the first request is writing the time already."""

    _claim = (select(_TOKENS.c.id).where(_TOKENS.c.id == bindparam("token_id"), _OWN, _STALE)
              .with_for_update(skip_locked=True).scalar_subquery())
    statement = update(_TOKENS).where(_TOKENS.c.id == _claim).values(last_used_at=bindparam("now"))


_touching = per_engine(_Touching, _PostgresTouching)


def touch_token(session, organization_id: int, token_id: int, last_used_at: datetime | None,
                now: datetime) -> bool:
    """Record that the organisation's token `token_id` (last used at
    `last_used_at`, as read with it) opened a request `now`: one conditional
    UPDATE in the session's transaction when that time is older than
    TOUCH_EVERY, else no statement at all. Whether it sent the UPDATE."""
    cutoff = now - TOUCH_EVERY
    if last_used_at is not None and last_used_at >= cutoff:
        return False
    driver_rows(session.connection(), _touching(session).statement,
                {"org": organization_id, "token_id": token_id, "cutoff": cutoff, "now": now})
    return True
