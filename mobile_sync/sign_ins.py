"""Ending a user's sign-ins: after a password change or reset, or on request.

A user is signed in through bearer tokens (the API, the phone app's sign-in)
and browser sessions, each of which is an `AccessToken` row without a device
(revoked at once, never handed out; see server/web/session_auth.py). A phone
holds a device token of its own.

- Changing the password ends every other token and browser session of the
  user; the phones stay signed in (a routine change on a laptop should not
  stop the call log syncing). "Sign out everywhere" is the way to end those.
- Signing out everywhere, and a password reset (the old password may be
  known to someone else, who could have registered a phone with it), end
  every token, every browser session and every phone: each phone is revoked
  as if an admin had removed it, so it must sign in and register again (a
  revoked phone does not count against the device limit).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from mobile_sync.devices import revoke_device
from mobile_sync.passwords import hash_password
from mobile_sync.store.models import AccessToken, Device, User
from mobile_sync.tokens import hash_token


def token_id(session, clear_token: str | None) -> int | None:
    """The row id of a bearer token (the request's own, to keep it), or None."""
    if not clear_token:
        return None
    return session.execute(select(AccessToken.id).where(AccessToken.token_hash == hash_token(clear_token))
                           .execution_options(all_organizations=True)).scalar()


def end_sign_ins(session, user: User, now: datetime, *, keep_token_id: int | None = None,
                 phones: bool = False) -> None:
    """Delete the user's tokens and browser sessions except `keep_token_id`;
    with `phones`, revoke every phone of the user too (and so its token)."""
    condition = [AccessToken.user_id == user.id, AccessToken.device_id.is_(None)]
    if keep_token_id is not None:
        condition.append(AccessToken.id != keep_token_id)
    session.execute(delete(AccessToken).where(*condition).execution_options(synchronize_session=False))
    if phones:
        devices = session.execute(select(Device).where(Device.user_id == user.id, Device.revoked_at.is_(None))
                                  .execution_options(all_organizations=True)).scalars().all()
        for device in devices:
            revoke_device(session, device, now)
    session.flush()


def set_password(session, user: User, password: str, now: datetime, *, keep_token_id: int | None = None,
                 phones: bool = False) -> None:
    """A new password; every other sign-in ends (see the module's note on phones)."""
    user.password_hash = hash_password(password)
    end_sign_ins(session, user, now, keep_token_id=keep_token_id, phones=phones)
