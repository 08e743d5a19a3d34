"""Webhook endpoints (admin): signed Standard Webhooks out, their delivery
log, test sends and redelivery. Deliveries are queued after the commit
(`server.webhook_delivery`)."""
from __future__ import annotations

from flask import Blueprint, current_app

from mobile_sync.roles import ADMINS
from mobile_sync.webhooks import endpoints
from schemas.webhooks import (
    WebhookCreatedSchema, WebhookCreateSchema, WebhookDeliveryListSchema, WebhookDeliverySchema, WebhookEndpointSchema,
    WebhookListQuerySchema, WebhookListSchema, WebhookSecretSchema, WebhookTestSchema, WebhookUpdateSchema,
)
from server.webhook_delivery import install_hook
from server.api.routing import operation
from server.auth import USER
from server.clock import now
from server.extensions import db

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1")
install_hook()


def _url_options() -> dict:
    return {"allow_loopback": bool(current_app.config.get("WEBHOOK_ALLOW_LOOPBACK")),
            "resolve": current_app.extensions.get("webhook_resolver")}


@operation(bp, "/webhooks", "POST", auth=USER, roles=ADMINS, body=WebhookCreateSchema, response=WebhookCreatedSchema,
           status=201, audit=lambda result, args: ("webhook.create", "webhook", result["id"], None))
def create_webhook(principal, body):
    """Add an endpoint; its whsec_ secret is in this answer and never again."""
    endpoint, secret = endpoints.create_endpoint(db.session, principal.organization_id, url=body["url"],
                                                 events=body["events"], sealing_key=current_app.config["SECRETS_KEY"],
                                                 now=now(), **_url_options())
    return {"id": endpoint.id, "secret": secret}


@operation(bp, "/webhooks", "GET", auth=USER, roles=ADMINS, query=WebhookListQuerySchema, response=WebhookListSchema)
def list_webhooks(principal, args):
    """The organisation's endpoints, oldest first."""
    items, next_page = endpoints.list_endpoints(db.session, principal.organization_id, **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/webhooks/<int:webhook_id>", "GET", auth=USER, roles=ADMINS, response=WebhookEndpointSchema)
def get_webhook(principal, webhook_id):
    """One endpoint (never its secret)."""
    return endpoints.get_endpoint(db.session, principal.organization_id, webhook_id)


@operation(bp, "/webhooks/<int:webhook_id>", "PATCH", auth=USER, roles=ADMINS, body=WebhookUpdateSchema,
           response=WebhookEndpointSchema, audit="webhook.update")
def update_webhook(principal, body, webhook_id):
    """Change the URL or the event types, or enable or disable the endpoint."""
    return endpoints.update_endpoint(db.session, principal.organization_id, webhook_id, body, now=now(),
                                     **_url_options())


@operation(bp, "/webhooks/<int:webhook_id>", "DELETE", auth=USER, roles=ADMINS, status=204, audit="webhook.delete")
def delete_webhook(principal, webhook_id):
    """Remove the endpoint and its delivery log."""
    endpoints.delete_endpoint(db.session, principal.organization_id, webhook_id)


@operation(bp, "/webhooks/<int:webhook_id>/rotate-secret", "POST", auth=USER, roles=ADMINS,
           response=WebhookSecretSchema, audit="webhook.rotate_secret")
def rotate_webhook_secret(principal, webhook_id):
    """A new secret, shown once; the previous one keeps signing, as a second signature, for 24 hours."""
    secret = endpoints.rotate_secret(db.session, principal.organization_id, webhook_id,
                                     sealing_key=current_app.config["SECRETS_KEY"], now=now())
    return {"secret": secret}


@operation(bp, "/webhooks/<int:webhook_id>/test", "POST", auth=USER, roles=ADMINS, response=WebhookTestSchema,
           status=202)
def test_webhook(principal, webhook_id):
    """Send a `webhook.test` event to the endpoint; its outcome shows in the delivery log."""
    return {"delivery_id": endpoints.send_test(db.session, principal.organization_id, webhook_id, now())}


@operation(bp, "/webhooks/<int:webhook_id>/deliveries", "GET", auth=USER, roles=ADMINS, query=WebhookListQuerySchema,
           response=WebhookDeliveryListSchema)
def list_webhook_deliveries(principal, args, webhook_id):
    """The endpoint's deliveries, newest first: one per event, with its attempts (no bodies are kept)."""
    items, next_page = endpoints.list_deliveries(db.session, principal.organization_id, webhook_id, **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver", "POST", auth=USER,
           roles=ADMINS, response=WebhookDeliverySchema, status=202, audit="webhook.redeliver")
def redeliver_webhook(principal, webhook_id, delivery_id):
    """Send the delivery again, with the same webhook-id."""
    return endpoints.redeliver(db.session, principal.organization_id, webhook_id, delivery_id, now())
