"""The suppression list (admin): numbers rejected as spam or personal, which
never become leads; an admin may take one off it."""
from __future__ import annotations

from flask import Blueprint, current_app

from mobile_sync import suppressions
from mobile_sync.roles import ADMINS
from schemas.suppressions import SuppressionListQuerySchema, SuppressionListSchema
from server.api.routing import operation
from server.auth import USER
from server.extensions import db

bp = Blueprint("suppressions", __name__, url_prefix="/api/v1")


@operation(bp, "/suppressions", "GET", auth=USER, roles=ADMINS, query=SuppressionListQuerySchema,
           response=SuppressionListSchema, audit="suppression.list")
def list_suppressions(principal, args):
    """Suppressed numbers, newest first: reason, rep, date, and the rejected lead while it exists."""
    items, next_page = suppressions.list_suppressions(
        db.session, organization_id=principal.organization_id, hash_key=current_app.config["HASH_KEY"], **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/suppressions/<int:suppression_id>", "DELETE", auth=USER, roles=ADMINS, status=204,
           audit="suppression.remove")
def remove_suppression(principal, suppression_id):
    """Take a number off the suppression list: the auto-lead rules no longer skip it."""
    suppressions.remove_suppression(db.session, organization_id=principal.organization_id,
                                    suppression_id=suppression_id)
