"""Phones: registration, token rotation, revocation, consent."""
from __future__ import annotations

from flask import Blueprint

from mobile_sync import consent, devices, sync_health
from mobile_sync.roles import REP
from schemas.devices import (
    ConsentStateSchema, ConsentUpdateSchema, DeviceCreatedSchema, DeviceCreateSchema, DeviceListQuerySchema,
    DeviceHealthSchema, DeviceListSchema, DeviceSchema, DeviceUpdateSchema, PolicySchema, TrackingSchema,
    TrackingStateSchema,
)
from server.api.routing import operation
from server.auth import ANY, DEVICE, PUBLIC, USER
from server.clock import now
from server.extensions import db

bp = Blueprint("devices", __name__, url_prefix="/api/v1")

DEVICE_LIMIT_RESPONSE = {"409": {
    "description": f"`device_limit_reached`: the user has {devices.MAX_DEVICES_PER_USER} phones registered "
                   "already (revoked ones do not count); revoke one first.",
    "content": {"application/json": {"schema": "Error"}}}}


@operation(bp, "/devices", "POST", auth=USER, body=DeviceCreateSchema, response=DeviceCreatedSchema, status=201,
           responses=DEVICE_LIMIT_RESPONSE)
def register_device(principal, body):
    """Register the signed-in user's phone (at most 10 at once); returns its device token once."""
    device, token = devices.register_device(db.session, user=principal.user, fields=body, now=now())
    return {"device_id": device.id, "device_token": token}


@operation(bp, "/devices", "GET", auth=USER, query=DeviceListQuerySchema, response=DeviceListSchema)
def list_devices(principal, args):
    """The organisation's phones, newest first, with consent, uploads and push state (a rep: their own)."""
    items, next_page = devices.list_devices(db.session, organization_id=principal.organization_id,
                                            own_user_id=principal.user_id if principal.role == REP else None, now=now(),
                                            **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/devices/<int:device_id>", "GET", auth=ANY, response=DeviceSchema)
def get_device(principal, device_id):
    """One of the caller's devices."""
    return devices.owned_device(db.session, device_id, user=principal.user, acting_device=principal.device,
                                allow_admin=True)


@operation(bp, "/devices/<int:device_id>", "PATCH", auth=ANY, body=DeviceUpdateSchema, response=DeviceSchema)
def update_device(principal, body, device_id):
    """Rotate the FCM token or installation ID (or update the app version) of the caller's phone."""
    device = devices.owned_device(db.session, device_id, user=principal.user, acting_device=principal.device)
    return devices.update_device(db.session, device, body, now())


@operation(bp, "/devices/<int:device_id>", "DELETE", auth=ANY, status=204)
def revoke_device(principal, device_id):
    """Revoke a phone and its device token (its user, or an admin)."""
    device = devices.owned_device(db.session, device_id, user=principal.user, acting_device=principal.device,
                                  allow_admin=principal.kind == "user")
    devices.revoke_device(db.session, device, now())


@operation(bp, "/consent/policy", "GET", auth=PUBLIC, response=PolicySchema)
def consent_policy(principal):
    """The disclosure the app shows before asking for permissions."""
    return consent.current_policy(principal.user.organization if principal else None)


@operation(bp, "/devices/<int:device_id>/consent", "GET", auth=ANY, response=ConsentStateSchema)
def get_consent(principal, device_id):
    """The phone's consent per scope."""
    device = devices.owned_device(db.session, device_id, user=principal.user, acting_device=principal.device,
                                  allow_admin=True)
    return consent.consent_state(db.session, device.id)


@operation(bp, "/devices/<int:device_id>/consent", "PUT", auth=DEVICE, body=ConsentUpdateSchema,
           response=ConsentStateSchema)
def set_consent(principal, body, device_id):
    """Record the phone's consent; turning a scope off deletes its uploads."""
    device = devices.owned_device(db.session, device_id, user=principal.user, acting_device=principal.device)
    choices = {"contacts": body["contacts"], "call_log": body["call_log"]}
    return consent.set_consent(db.session, device=device, org=principal.user.organization, choices=choices,
                               policy_version=body["policy_version"], now=now())


@operation(bp, "/devices/<int:device_id>/tracking", "PUT", auth=ANY, body=TrackingSchema, response=TrackingStateSchema)
def set_tracking(principal, body, device_id):
    """Work SIM only: the phone accounts whose calls this phone keeps (its user, or an admin); [] keeps all."""
    device = devices.owned_device(db.session, device_id, user=principal.user, acting_device=principal.device,
                                  allow_admin=principal.kind == "user")
    return devices.set_tracking(db.session, device, body["phone_account_ids"], now())


@operation(bp, "/devices/<int:device_id>/health", "POST", auth=DEVICE, body=DeviceHealthSchema, status=204)
def report_health(principal, body, device_id):
    """The app's state (battery optimisation, autostart, permissions, version); the latest is kept."""
    device = devices.owned_device(db.session, device_id, user=principal.user, acting_device=principal.device)
    sync_health.record_health(db.session, device, body, now())
