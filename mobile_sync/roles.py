"""Who a user is in their organisation, named once."""
from __future__ import annotations

ADMIN, MANAGER, REP = "admin", "manager", "rep"
ROLES = (ADMIN, MANAGER, REP)
# Review leads, see everyone's leads and calls, run the team's pages.
REVIEWERS = (ADMIN, MANAGER)
# Settings, invitations, keys, export, erasure.
ADMINS = (ADMIN,)


def is_reviewer(role: str | None) -> bool:
    return role in REVIEWERS
