"""CRM connections (admin): HubSpot and Pipedrive, by name. The token is
checked when saved and never shown again; pushes and pulls run in the
background (`server.crm_delivery`)."""
from __future__ import annotations

from flask import Blueprint, current_app

from mobile_sync.crm import connections
from mobile_sync.roles import ADMINS
from mobile_sync.store.crm_pushes import list_pushes
from schemas.integrations import (
    IntegrationListSchema, IntegrationPullSchema, IntegrationSaveSchema, IntegrationSchema, IntegrationUpdateSchema,
    PushListQuerySchema, PushListSchema,
)
from server.api.routing import operation
from server.auth import USER
from server.clock import now
from server.crm_delivery import install_hook, make_client, queue_pull_after_commit
from server.extensions import db

bp = Blueprint("integrations", __name__, url_prefix="/api/v1")
install_hook()


@operation(bp, "/integrations", "GET", auth=USER, roles=ADMINS, response=IntegrationListSchema)
def list_integrations(principal):
    """Every CRM CallSync connects to, connected or not, with its rules and status."""
    return {"items": connections.describe_all(db.session, principal.organization_id, now())}


@operation(bp, "/integrations/<crm>", "PUT", auth=USER, roles=ADMINS, body=IntegrationSaveSchema,
           response=IntegrationSchema, audit="integration.connect")
def connect_integration(principal, body, crm):
    """Connect the CRM (or replace its token) and set its rules. The token is
    checked with one request to the CRM first: refused or unreachable → 422, nothing saved."""
    described, _ = connections.connect(db.session, principal.organization_id, crm, body, make_client=make_client,
                                       sealing_key=current_app.config["SECRETS_KEY"], now=now())
    return described


@operation(bp, "/integrations/<crm>", "PATCH", auth=USER, roles=ADMINS, body=IntegrationUpdateSchema,
           response=IntegrationSchema, audit="integration.update")
def update_integration(principal, body, crm):
    """Change the rules: call types, shortest call, approved leads, pull every N hours."""
    return connections.change_rules(db.session, principal.organization_id, crm, body, now())


@operation(bp, "/integrations/<crm>", "DELETE", auth=USER, roles=ADMINS, status=204, audit="integration.delete")
def delete_integration(principal, crm):
    """Disconnect: the token and the push log are removed; nothing more is sent."""
    connections.disconnect(db.session, principal.organization_id, crm)


@operation(bp, "/integrations/<crm>/pull", "POST", auth=USER, roles=ADMINS, response=IntegrationPullSchema,
           status=202, audit="integration.pull")
def pull_integration(principal, crm):
    """Import the CRM's people changed since the last pull into the contacts (in the background)."""
    connection_id = connections.ask_pull(db.session, principal.organization_id, crm, now())
    queue_pull_after_commit(db.session, connection_id)
    return {"status": "queued"}


@operation(bp, "/integrations/<crm>/pushes", "GET", auth=USER, roles=ADMINS, query=PushListQuerySchema,
           response=PushListSchema)
def list_integration_pushes(principal, args, crm):
    """The push log, newest first: one item per call or lead, its status and attempts (no bodies kept)."""
    connection_id = connections.connection_id(db.session, principal.organization_id, crm)
    items, next_page = list_pushes(db.session, principal.organization_id, connection_id, **args)
    return {"items": items, "next_page": next_page}
