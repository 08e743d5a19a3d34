"""The organisation's settings (admin)."""
from __future__ import annotations

from flask import Blueprint

from mobile_sync.org_settings import effective_settings
from mobile_sync.settings_update import read_settings, update_settings
from mobile_sync.roles import ADMINS
from schemas.settings import SettingsSchema
from server.api.routing import after_commit, operation
from server.auth import USER
from server.extensions import db
from server.jobs import queue_reports_rebuild

bp = Blueprint("settings", __name__, url_prefix="/api/v1")


@operation(bp, "/settings", "GET", auth=USER, roles=ADMINS, response=SettingsSchema)
def get_settings(principal):
    """Region, auto-lead rules, tracking numbers, retention, plan and usage."""
    return read_settings(db.session, principal.user.organization)


@operation(bp, "/settings", "PATCH", auth=USER, roles=ADMINS, body=SettingsSchema, response=SettingsSchema)
def patch_settings(principal, body):
    """Change settings; nested objects (auto_leads) are merged, lists replaced.
    A new time zone rebuilds the reports' day buckets in the background."""
    organization = principal.user.organization
    zone = effective_settings(organization)["timezone"]
    result = update_settings(db.session, organization, body)
    if result["timezone"] != zone:
        after_commit(lambda: queue_reports_rebuild(organization.id))
    return result
