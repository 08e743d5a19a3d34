"""Invites: a one-time, expiring token e-mailed to a future teammate."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select, update

from mobile_sync.accounts import create_user, issue_user_token
from mobile_sync.email_text import one_line
from mobile_sync.errors import ServiceError, conflict, not_found
from mobile_sync.passwords import hash_password
from mobile_sync.tokens import INVITE_TOKEN, hash_token, new_token
from mobile_sync.store.models import Invite, User


class NewInvite(NamedTuple):
    invite: Invite
    token: str
    # The address has an account in another organisation: the e-mail tells
    # its owner so instead of carrying the link. The inviter is not told.
    address_has_account: bool


def create_invite(session, *, inviter: User, email: str, role: str, now: datetime, ttl_hours: int) -> NewInvite:
    """Record an invite; return it and the clear token for the e-mailed link.

    The answer is the same whether or not the address has an account in
    another organisation, so an admin cannot probe addresses; only a current
    teammate's address is 409 `email_taken` (the admin sees the team anyway).
    """
    from mobile_sync.import_rows import PASSWORD_NOT_SET

    holder = session.execute(  # one look-up, whoever holds the address: no timing to tell them apart
        select(User.organization_id, User.password_hash).where(User.email == email)
        .execution_options(all_organizations=True)
    ).first()
    teammate = holder is not None and holder.organization_id == inviter.organization_id
    if teammate and holder.password_hash != PASSWORD_NOT_SET:
        raise conflict("email_taken", "This address already belongs to a teammate in your organisation.")
    has_account = holder is not None and not teammate
    clear, digest = new_token(INVITE_TOKEN)
    invite = Invite(organization_id=inviter.organization_id, email=email, role=role, token_hash=digest,
                    invited_by_id=inviter.id, created_at=now, expires_at=now + timedelta(hours=ttl_hours))
    session.add(invite)
    session.flush()
    return NewInvite(invite, clear, has_account)


def withdraw_invite(session, invite_id: int, now: datetime) -> None:
    """Withdraw an open invite and forget the address it was sent to."""
    invite = session.get(Invite, invite_id)
    if invite is None:
        raise not_found("invite")
    if invite.accepted_at is None:
        invite.withdrawn_at = invite.withdrawn_at or now
    invite.email = None
    session.flush()


def invite_state(session, token: str, now: datetime) -> tuple[str, Invite | None]:
    """What a link's invite is now: "open", "unknown", "withdrawn", "used" or "expired"."""
    invite = session.execute(
        select(Invite).where(Invite.token_hash == hash_token(token)).execution_options(all_organizations=True)
    ).scalar_one_or_none()
    if invite is None:
        return "unknown", None
    if invite.withdrawn_at is not None or invite.email is None:
        return "withdrawn", invite
    if invite.accepted_at is not None:
        return "used", invite
    if invite.expires_at <= now:
        return "expired", invite
    return "open", invite


def accept_invite(session, *, token: str, name: str, password: str, now: datetime) -> tuple[User, str]:
    """Turn an invite into a user, once. A reused, withdrawn or expired token fails
    (the API answers a withdrawn invite as an unknown one: 404)."""
    state, invite = invite_state(session, token, now)
    if state in ("unknown", "withdrawn"):
        raise ServiceError(404, "invite_not_found", "This invitation link is not valid.")
    if state == "used":
        raise ServiceError(410, "invite_used", "This invitation has already been used.")
    if state == "expired":
        raise ServiceError(410, "invite_expired", "This invitation has expired; ask for a new one.")
    # Claim the invite atomically so two simultaneous accepts make one user.
    claimed = session.execute(
        update(Invite).where(Invite.id == invite.id, Invite.accepted_at.is_(None)).values(accepted_at=now)
    ).rowcount
    if claimed != 1:
        raise ServiceError(410, "invite_used", "This invitation has already been used.")
    user = _imported_teammate(session, invite.organization_id, invite.email)
    if user is not None:
        # A teammate restored from an export: the invite lets them set a password.
        user.name, user.role, user.password_hash = name, invite.role, hash_password(password)
        session.flush()
    else:
        user = create_user(session, organization_id=invite.organization_id, name=name, email=invite.email,
                           password=password, role=invite.role)
    return user, issue_user_token(session, user)


def _imported_teammate(session, organization_id: int, email: str) -> User | None:
    """A user of this organisation restored by an import, who has no password yet."""
    from mobile_sync.import_rows import PASSWORD_NOT_SET

    return session.execute(
        select(User).where(User.organization_id == organization_id, User.email == email,
                           User.password_hash == PASSWORD_NOT_SET).execution_options(all_organizations=True)
    ).scalar_one_or_none()


def render_invite_email(*, organization_name: str, inviter_name: str, link: str, expires_at: datetime,
                        address_has_account: bool = False) -> tuple[str, str]:
    """Subject and plain-text body of the invitation e-mail.

    To an address that already has an account elsewhere it explains why the
    invitation cannot be used, and carries no link. Names are quoted on one
    line (see mobile_sync/email_text.py).
    """
    inviter_name, organization_name = one_line(inviter_name), one_line(organization_name)
    subject = f"{inviter_name} invited you to {organization_name} on CallSync"
    if address_has_account:
        body = (
            f"{inviter_name} invited you to join {organization_name} on CallSync.\n\n"
            "This e-mail address already has a CallSync account, and an account belongs to one "
            "organisation, so the invitation cannot be accepted with it. To join, ask "
            f"{inviter_name} to invite another address of yours.\n\n"
            "If you did not expect this, ignore this e-mail.\n"
        )
        return subject, body
    body = (
        f"{inviter_name} invited you to join {organization_name} on CallSync.\n\n"
        f"Open this link to choose your password (valid until {expires_at:%Y-%m-%d %H:%M} UTC, once):\n\n"
        f"{link}\n\nIf you did not expect this, ignore this e-mail.\n"
    )
    return subject, body
