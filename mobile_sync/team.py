"""The team console's reads and the one invite action the invites module
lacks: teammates with their phones and when they were last active, pending
invites, resending an invite, and the phones with consent per scope.

Reads use the ORM through the caller's session, so the request's tenancy
filter applies as well as the explicit organisation filter.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from mobile_sync import devices, invites
from mobile_sync.accounts import last_active, list_users
from mobile_sync.errors import not_found
from mobile_sync.store.models import ConsentState, Device, Invite, User

CONSENT_SCOPES = ("contacts", "call_log")
DEVICE_PAGE = 200  # list_devices' largest page


@dataclass(frozen=True)
class Member:
    """A teammate as the team page shows them."""

    user: User
    devices: int
    # When any of their tokens, browser sessions or phones last opened a
    # request (to the nearest `store.credentials.TOUCH_EVERY`); None: never.
    last_active_at: datetime | None


def team_members(session, organization_id: int) -> list[Member]:
    """Every user of the organisation, with their registered phones and when they were last active."""
    phones = dict(session.execute(
        select(Device.user_id, func.count()).where(Device.organization_id == organization_id,
                                                   Device.revoked_at.is_(None)).group_by(Device.user_id)).all())
    active = last_active(session, organization_id)
    return [Member(user, phones.get(user.id, 0), active.get(user.id))
            for user in list_users(session) if user.organization_id == organization_id]


def _pending(organization_id: int, now: datetime):
    return (select(Invite).where(Invite.organization_id == organization_id, Invite.accepted_at.is_(None),
                                 Invite.withdrawn_at.is_(None), Invite.email.is_not(None), Invite.expires_at > now)
            .order_by(Invite.id))


def pending_invites(session, organization_id: int, now: datetime) -> list[Invite]:
    """Invites still waiting to be accepted: not used, withdrawn or expired; oldest first."""
    return list(session.execute(_pending(organization_id, now)).scalars())


def pending_invites_page(session, organization_id: int, now: datetime, *, page: int = 1,
                         limit: int = 50) -> tuple[list[Invite], int | None]:
    """The pending invites (as `pending_invites`), `limit` a page; and the next page's number, or None."""
    rows = list(session.execute(_pending(organization_id, now).offset((page - 1) * limit).limit(limit + 1))
                .scalars())
    return rows[:limit], (page + 1 if len(rows) > limit else None)


def resend_invite(session, *, inviter: User, invite_id: int, now: datetime, ttl_hours: int) -> invites.NewInvite:
    """A fresh link for a pending invite: the old one is withdrawn (only its
    hash is stored, so it cannot be sent again) and a new one made for the
    same address and role, valid from now."""
    old = session.get(Invite, invite_id)
    if (old is None or old.organization_id != inviter.organization_id or old.accepted_at is not None
            or old.withdrawn_at is not None or old.email is None or old.expires_at <= now):
        raise not_found("pending invite")
    email, role = old.email, old.role
    invites.withdraw_invite(session, old.id, now)
    return invites.create_invite(session, inviter=inviter, email=email, role=role, now=now, ttl_hours=ttl_hours)


def phones(session, organization_id: int) -> list[dict]:
    """Every registered phone of the organisation (the API's items, newest
    first), each with `scopes`: per consent scope, whether granted, under
    which policy version and since when."""
    items, page = [], 1
    while page is not None:
        batch, page = devices.list_devices(session, organization_id=organization_id, page=page, limit=DEVICE_PAGE)
        items.extend(batch)
    states: dict[int, dict[str, ConsentState]] = {}
    if items:
        rows = session.execute(select(ConsentState).where(
            ConsentState.organization_id == organization_id,
            ConsentState.device_id.in_([item["device_id"] for item in items]))).scalars()
        for state in rows:
            states.setdefault(state.device_id, {})[state.scope] = state
    for item in items:
        item["scopes"] = {scope: states.get(item["device_id"], {}).get(scope) for scope in CONSENT_SCOPES}
    return items
