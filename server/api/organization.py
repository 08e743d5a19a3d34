"""The organisation itself: its status, ending the service, the access audit."""
from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select

from mobile_sync import retention
from mobile_sync.roles import ADMINS
from schemas.organization import AuditListSchema, AuditQuerySchema, CloseOrganizationSchema, OrganizationStatusSchema
from server.api.routing import operation
from server.audit import flush_audit
from server.auth import USER
from server.clock import now
from server.extensions import db
from mobile_sync.store.models import AccessEvent

bp = Blueprint("organization", __name__, url_prefix="/api/v1")


def _status(org):
    return {"id": org.id, "name": org.name, "plan": org.plan, "trial_ends_at": org.trial_ends_at,
            "closing_at": org.closing_at,
            "deletion_at": org.closing_at or retention.trial_deletion_date(org)}


@operation(bp, "/organization", "GET", auth=USER, response=OrganizationStatusSchema)
def organization_status(principal):
    """The organisation's plan, trial and, if it is ending, when its data goes."""
    return _status(principal.user.organization)


@operation(bp, "/organization", "DELETE", auth=USER, roles=ADMINS, body=CloseOrganizationSchema,
           response=OrganizationStatusSchema, status=202)
def close_organization(principal, body):
    """End the service: all data is deleted after a 30-day grace period (export still works)."""
    org = principal.user.organization
    retention.request_closing(db.session, org, body["confirm"], now())
    return _status(org)


@operation(bp, "/organization/cancel-closing", "POST", auth=USER, roles=ADMINS,
           response=OrganizationStatusSchema)
def cancel_closing(principal):
    """Keep the organisation after all (during the grace period)."""
    org = principal.user.organization
    retention.cancel_closing(db.session, org)
    return _status(org)


@operation(bp, "/audit", "GET", auth=USER, roles=ADMINS, query=AuditQuerySchema, response=AuditListSchema)
def audit_log(principal, args):
    """Data-access events, newest first: who read or changed client data, and when."""
    flush_audit()
    query = select(AccessEvent).where(AccessEvent.organization_id == principal.organization_id)
    if args.get("since"):
        query = query.where(AccessEvent.created_at >= args["since"])
    page, limit = args["page"], args["limit"]
    rows = list(db.session.execute(query.order_by(AccessEvent.id.desc()).offset((page - 1) * limit)
                                   .limit(limit + 1)).scalars())
    return {"items": rows[:limit], "next_page": page + 1 if len(rows) > limit else None}
