"""Who may open the contact, import and erasure pages, and their reads in the
access audit (like the API's), shared by those pages."""
from __future__ import annotations

from flask import g

from mobile_sync.errors import forbidden
from mobile_sync.roles import ADMINS, REVIEWERS
from server.audit import push_pending_events, record_access
from server.auth import Principal
from server.extensions import db

REPS_REFUSED = "These pages are for managers and admins; reps work from the phone app."
ADMINS_ONLY = "Only an admin can erase a person. Ask an admin of your organisation."


def allow_reviewers() -> None:
    """A 403 page unless the signed-in user is a manager or an admin."""
    if g.web_user.role not in REVIEWERS:
        raise forbidden(REPS_REFUSED)


def allow_admins() -> None:
    if g.web_user.role not in ADMINS:
        raise forbidden(ADMINS_ONLY if g.web_user.role in REVIEWERS else REPS_REFUSED)


def page_principal() -> Principal:
    user = g.web_user
    return Principal(kind="user", organization_id=user.organization_id, user=user)


def audit_read(action: str, object_type: str, object_id: int | None = None, count: int | None = None) -> None:
    """A page's read of client data into the access audit; commits."""
    record_access(page_principal(), action, object_type, object_id, count)
    db.session.commit()
    push_pending_events()
