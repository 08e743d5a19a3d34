"""A forgotten password: a one-time link e-mailed on request, valid an hour.

The request is answered the same whether or not the address has an account;
requests are counted per address and per client network (the login throttle's
table and limits), so nobody can flood an inbox or walk a list of addresses.
Setting the new password ends every sign-in of the user, phones included
(see mobile_sync/sign_ins.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select, update

from mobile_sync.accounts import LoginLimits, client_network, count_attempt, throttle_key
from mobile_sync.email_text import one_line
from mobile_sync.errors import ServiceError
from mobile_sync.sign_ins import set_password
from mobile_sync.store.models import User
from mobile_sync.store.models.accounts import PasswordReset
from mobile_sync.tokens import RESET_TOKEN, hash_token, new_token

RESET_TTL = timedelta(hours=1)
REQUESTED = "If the address has an account, a link to set a new password is on its way."
PROBLEMS = {
    "reset_not_found": (404, "This link to set a new password is not valid."),
    "reset_used": (410, "This link has already been used to set a password."),
    "reset_expired": (410, "This link has expired: links to set a new password work for an hour."),
}


class ResetLink(NamedTuple):
    user: User
    token: str
    expires_at: datetime


def request_reset(session, *, email: str, address: str, now: datetime, limits: LoginLimits) -> ResetLink | None:
    """Count the request, then make a link if the address belongs to an
    active account; None otherwise (the caller answers the same either way).

    Past `LOGIN_MAX_FAILURES` requests for one address, or
    `LOGIN_MAX_FAILURES_PER_ADDRESS` from one client network, in the window:
    429, for an unknown address too.
    """
    network = client_network(address)
    count_attempt(session, ((throttle_key(limits.secret, "reset", email), limits.max_failures),
                            (throttle_key(limits.secret, "reset_from", network), limits.max_failures_per_address)),
                  limits.window_s, now, "Too many requests for a password link. Try again later.")
    user = session.execute(
        select(User).where(User.email == email).execution_options(all_organizations=True)
    ).scalar_one_or_none()
    if user is None or user.disabled_at is not None:
        return None
    clear, digest = new_token(RESET_TOKEN)
    session.add(PasswordReset(organization_id=user.organization_id, user_id=user.id, token_hash=digest,
                              created_at=now, expires_at=now + RESET_TTL))
    session.flush()
    return ResetLink(user, clear, now + RESET_TTL)


def _problem(code: str) -> ServiceError:
    status, message = PROBLEMS[code]
    return ServiceError(status, code, message)


def open_reset(session, token: str, now: datetime) -> PasswordReset:
    """The reset a link names, if it can still be used; else 404 `reset_not_found`,
    410 `reset_used` or 410 `reset_expired`."""
    reset = session.execute(
        select(PasswordReset).where(PasswordReset.token_hash == hash_token(token))
        .execution_options(all_organizations=True)
    ).scalar_one_or_none()
    if reset is None:
        raise _problem("reset_not_found")
    user = _user(session, reset.user_id)
    if user is None or user.disabled_at is not None:
        raise _problem("reset_not_found")
    if reset.used_at is not None:
        raise _problem("reset_used")
    if reset.expires_at <= now:
        raise _problem("reset_expired")
    return reset


def confirm_reset(session, *, token: str, password: str, now: datetime) -> User:
    """Set the new password with a link, once; the user's other open links die
    with it, and every sign-in and phone of the user is signed out."""
    reset = open_reset(session, token, now)
    # Claimed atomically: of two simultaneous uses, one sets the password.
    claimed = session.execute(
        update(PasswordReset).where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise _problem("reset_used")
    session.execute(update(PasswordReset).where(PasswordReset.user_id == reset.user_id,
                                                PasswordReset.used_at.is_(None))
                    .values(used_at=now).execution_options(synchronize_session=False))
    user = _user(session, reset.user_id)
    set_password(session, user, password, now, phones=True)
    return user


def _user(session, user_id: int) -> User | None:
    """The link's user, whichever organisation a signed-in page is scoped to."""
    return session.execute(select(User).where(User.id == user_id)
                           .execution_options(all_organizations=True)).scalar_one_or_none()


def render_reset_email(*, name: str, link: str, expires_at: datetime) -> tuple[str, str]:
    """Subject and plain-text body of the e-mail carrying the link. The name
    is quoted on one line (see mobile_sync/email_text.py)."""
    subject = "Set a new CallSync password"
    body = (
        f"Hello {one_line(name)},\n\n"
        "Someone (we hope you) asked to set a new password for your CallSync account.\n"
        f"Open this link to choose it (valid until {expires_at:%Y-%m-%d %H:%M} UTC, once):\n\n"
        f"{link}\n\n"
        "Setting a new password signs you out everywhere: the review pages, the API and the phone app.\n"
        "If you did not ask for this, ignore this e-mail: your password stays as it is.\n"
    )
    return subject, body
