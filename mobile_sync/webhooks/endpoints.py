"""An organisation's webhook endpoints, as admins manage them (API and page):
each function takes a session and plain values, flushes, never commits."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from mobile_sync.errors import ServiceError, invalid, not_found
from mobile_sync.store.models import WebhookDelivery, WebhookEndpoint
from mobile_sync.webhooks.addresses import UnsafeUrl, check_url
from mobile_sync.webhooks.events import emit_test
from mobile_sync.webhooks.sealing import new_webhook_secret, seal

ROTATION_GRACE = timedelta(hours=24)
MAX_ENDPOINTS = 20


def _checked_url(url: str, allow_loopback: bool, resolve) -> str:
    try:
        check_url(url, allow_loopback=allow_loopback, resolve=resolve)
    except UnsafeUrl as err:
        raise invalid({"url": [str(err)]}) from None
    return url


def get_endpoint(session, organization_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.organization_id != organization_id:
        raise not_found("webhook endpoint")
    return endpoint


def list_endpoints(session, organization_id: int, limit: int, page: int) -> tuple[list, int | None]:
    rows = session.execute(select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
                           .order_by(WebhookEndpoint.id).offset((page - 1) * limit).limit(limit + 1)).scalars().all()
    return rows[:limit], (page + 1 if len(rows) > limit else None)


def create_endpoint(session, organization_id: int, *, url: str, events: list[str], sealing_key: str,
                    allow_loopback: bool, now: datetime, resolve=None) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which is returned here and never again."""
    count = session.scalar(select(func.count()).select_from(WebhookEndpoint)
                           .where(WebhookEndpoint.organization_id == organization_id))
    if count >= MAX_ENDPOINTS:
        raise ServiceError(409, "too_many_endpoints", f"An organisation may have {MAX_ENDPOINTS} webhook endpoints.")
    _checked_url(url, allow_loopback, resolve or _default_resolver())
    secret = new_webhook_secret()
    endpoint = WebhookEndpoint(organization_id=organization_id, url=url, events=sorted(set(events)), active=True,
                               secret=seal(sealing_key, secret), created_at=now, updated_at=now)
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def update_endpoint(session, organization_id: int, endpoint_id: int, changes: dict, *, allow_loopback: bool,
                    now: datetime, resolve=None) -> WebhookEndpoint:
    endpoint = get_endpoint(session, organization_id, endpoint_id)
    if "url" in changes:
        endpoint.url = _checked_url(changes["url"], allow_loopback, resolve or _default_resolver())
    if "events" in changes:
        endpoint.events = sorted(set(changes["events"]))
    if "active" in changes:
        endpoint.active = bool(changes["active"])
        if endpoint.active:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
    endpoint.updated_at = now
    session.flush()
    return endpoint


def delete_endpoint(session, organization_id: int, endpoint_id: int) -> None:
    session.delete(get_endpoint(session, organization_id, endpoint_id))
    session.flush()


def rotate_secret(session, organization_id: int, endpoint_id: int, *, sealing_key: str, now: datetime) -> str:
    """A new secret; the current one keeps signing, as a second signature, for 24 hours."""
    endpoint = get_endpoint(session, organization_id, endpoint_id)
    secret = new_webhook_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + ROTATION_GRACE
    endpoint.secret = seal(sealing_key, secret)
    endpoint.updated_at = now
    session.flush()
    return secret


def send_test(session, organization_id: int, endpoint_id: int, now: datetime) -> int:
    endpoint = get_endpoint(session, organization_id, endpoint_id)
    if not endpoint.active:
        raise ServiceError(409, "endpoint_disabled", "Enable the endpoint before sending to it.")
    return emit_test(session, organization_id, endpoint.id, now)


def list_deliveries(session, organization_id: int, endpoint_id: int, limit: int, page: int):
    get_endpoint(session, organization_id, endpoint_id)
    rows = session.execute(select(WebhookDelivery).where(
        WebhookDelivery.organization_id == organization_id, WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc()).offset((page - 1) * limit).limit(limit + 1)).scalars().all()
    return rows[:limit], (page + 1 if len(rows) > limit else None)


def redeliver(session, organization_id: int, endpoint_id: int, delivery_id: int, now: datetime) -> WebhookDelivery:
    """Send a delivery again, whatever became of it, with the same `webhook-id`."""
    endpoint = get_endpoint(session, organization_id, endpoint_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id or delivery.organization_id != organization_id:
        raise not_found("delivery")
    if not endpoint.active:
        raise ServiceError(409, "endpoint_disabled", "Enable the endpoint before sending to it.")
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.claimed_until = None
    delivery.created_at = now  # the 3 days of retries count from the redelivery
    session.flush()
    from mobile_sync.webhooks.events import PENDING_DELIVERIES

    session.info.setdefault(PENDING_DELIVERIES, []).append(delivery.id)
    return delivery


def _default_resolver():
    from mobile_sync.webhooks.addresses import system_resolver

    return system_resolver
