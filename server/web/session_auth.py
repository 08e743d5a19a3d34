"""Browser sessions for the manager's pages, apart from API bearer tokens.

The signed Flask session cookie holds the user id, a session version, the id
of the sign-in's (revoked, never handed out) token row and a CSRF token. The
version is a fingerprint of the password hash, so changing the password ends
every browser session of that user; signing out deletes the sign-in's row, so
a copy of the cookie taken before dies with it. The API never reads this
cookie, and these pages never read an `Authorization` header.
"""
from __future__ import annotations

import hashlib
import secrets
import time

from flask import current_app, session
from sqlalchemy import delete, select

from mobile_sync.roles import is_reviewer
from mobile_sync.tokens import hash_token
from server.clock import now
from server.extensions import db
from mobile_sync.store.credentials import touch_token
from mobile_sync.store.models import AccessToken, User

CSRF_FIELD = "csrf_token"
MAX_AGE_S = 12 * 3600  # a browser session lasts one working day at most


def configure_cookie(app) -> None:
    """HttpOnly, SameSite=Lax, and Secure when the service is served over https."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = str(app.config.get("PUBLIC_BASE_URL", "")).startswith("https://")


def session_version(user: User) -> str:
    return hashlib.sha256(f"web-session:{user.password_hash}".encode()).hexdigest()[:24]


def start_session(user: User, sign_in_token: str) -> None:
    """A fresh session for `user` (nothing of the anonymous one survives), tied
    to the token row its sign-in made."""
    session.clear()
    session["uid"] = user.id
    session["sid"] = db.session.execute(
        select(AccessToken.id).where(AccessToken.token_hash == hash_token(sign_in_token))).scalar_one()
    session["ver"] = session_version(user)
    session["iat"] = int(time.time())
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def keep_session(user: User) -> None:
    """This session survives its user's password change (every other one ends:
    the version follows the password hash)."""
    session["ver"] = session_version(user)


def session_token_id() -> int | None:
    """The id of this session's sign-in row (kept when the user ends the others)."""
    sid = session.get("sid")
    return sid if isinstance(sid, int) else None


def end_session() -> None:
    session.clear()


def sign_out() -> None:
    """End this session for good: its sign-in's row goes, so a copied cookie no longer opens a page."""
    sid = session.get("sid")
    if isinstance(sid, int):
        db.session.execute(delete(AccessToken).where(AccessToken.id == sid, AccessToken.device_id.is_(None),
                                                     AccessToken.user_id == session.get("uid")))
    end_session()


def signed_in_user() -> User | None:
    """The manager or admin of this browser session, or None (the session is then cleared)."""
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    user = db.session.get(User, uid)
    sid = session.get("sid")
    sign_in = db.session.get(AccessToken, sid) if isinstance(sid, int) else None  # gone once signed out
    valid = (user is not None and sign_in is not None and sign_in.user_id == user.id
             and user.disabled_at is None and user.organization.closing_at is None
             and is_reviewer(user.role) and secrets.compare_digest(str(session.get("ver", "")),
                                                                        session_version(user))
             and time.time() - int(session.get("iat", 0)) < current_app.config.get("WEB_SESSION_MAX_AGE_S",
                                                                                 MAX_AGE_S))
    if not valid:
        end_session()
        return None
    # The sign-in's row says when the user was last active, as a token's does.
    # A page that only reads never commits, so a touch is committed here, on
    # its own, before the page's work begins (at most once per TOUCH_EVERY).
    if touch_token(db.session, user.organization_id, sign_in.id, sign_in.last_used_at, now()):
        db.session.commit()
    return user


def csrf_token() -> str:
    """This session's CSRF token, made on first use (the sign-in form needs one too)."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def csrf_ok(submitted: str | None) -> bool:
    expected = session.get(CSRF_FIELD)
    return bool(expected and submitted) and secrets.compare_digest(str(submitted), str(expected))
