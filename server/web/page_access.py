"""Who may open each console page (one rule for every page), and the pages'
reads in the access audit (like the API's)."""
from __future__ import annotations

from flask import g

from mobile_sync.errors import forbidden
from mobile_sync.roles import ADMINS, REVIEWERS
from server.audit import push_pending_events, record_access
from server.auth import Principal
from server.extensions import db

REPS_REFUSED = "These pages are for managers and admins; reps work from the phone app."


def allow_reviewers(reps_told: str = REPS_REFUSED) -> None:
    """A 403 page unless the signed-in user is a manager or an admin."""
    if g.web_user.role not in REVIEWERS:
        raise forbidden(reps_told)


def allow_admins(only_an_admin_can: str) -> None:
    """A 403 page unless the signed-in user is an admin: a manager is told what
    only an admin can do here ("erase a person"), a rep that the console is not
    for reps."""
    if g.web_user.role not in ADMINS:
        raise forbidden(f"Only an admin can {only_an_admin_can}. Ask an admin of your organisation."
                        if g.web_user.role in REVIEWERS else REPS_REFUSED)


def page_principal() -> Principal:
    user = g.web_user
    return Principal(kind="user", organization_id=user.organization_id, user=user)


def audit_read(action: str, object_type: str, object_id: int | None = None, count: int | None = None) -> None:
    """A page's read of client data into the access audit; commits."""
    record_access(page_principal(), action, object_type, object_id, count)
    db.session.commit()
    push_pending_events()
