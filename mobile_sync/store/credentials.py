"""Whose bearer token this is: one statement on every API request, built once
and sent straight to the driver. It returns plain values (the token's, its
user's and device's state, and the organisation's fields every request
reads), so a request that needs no ORM object (a caller-ID look-up, a ring)
makes none; the views that do load them by id (`server.auth.Principal`)."""
from __future__ import annotations

from collections import namedtuple

from sqlalchemy import bindparam, select

from mobile_sync.store.bulk_sql import driver_rows
from mobile_sync.store.models import AccessToken, Device, Organization, User

_HOLDER = (
    select(AccessToken.revoked_at, AccessToken.device_id, Device.revoked_at.label("device_revoked_at"),
           User.id.label("user_id"), User.role, User.region, User.disabled_at, User.organization_id,
           Organization.region.label("organization_region"), Organization.plan, Organization.settings,
           Organization.closing_at)
    .join(User, User.id == AccessToken.user_id)
    .join(Organization, Organization.id == User.organization_id)
    .outerjoin(Device, Device.id == AccessToken.device_id)
    .where(AccessToken.token_hash == bindparam("token_hash"))
)
TokenHolder = namedtuple("TokenHolder", [column.key for column in _HOLDER.selected_columns])


def token_holder(session, token_hash: str) -> TokenHolder | None:
    """The token with this hash and its holder, valid or not (the caller
    decides); None when there is no such token."""
    rows = driver_rows(session.connection(), _HOLDER, {"token_hash": token_hash})
    return TokenHolder(*rows[0]) if rows else None
