"""Phones: registration, FCM token rotation, revocation."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from mobile_sync.errors import conflict, forbidden, not_found
from mobile_sync.tokens import DEVICE_TOKEN, new_token
from mobile_sync.store.models import AccessToken, Device, User


# Phones a user may have registered at once (revoked ones do not count): each
# ring writes one push row per phone, so the number must stay small.
MAX_DEVICES_PER_USER = 10


def register_device(session, *, user: User, fields: dict, now: datetime) -> tuple[Device, str]:
    """Register a phone for `user`; return it and its device token (shown once).

    409 `device_limit_reached` when the user already has MAX_DEVICES_PER_USER
    phones. The user's row is locked first (FOR UPDATE; SQLite's BEGIN
    IMMEDIATE already serialises writers), so two registrations at once
    cannot both see nine and make eleven."""
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    active = session.execute(select(func.count()).select_from(Device)
                             .where(Device.user_id == user.id, Device.revoked_at.is_(None))).scalar_one()
    if active >= MAX_DEVICES_PER_USER:
        raise conflict("device_limit_reached",
                       f"You already have {MAX_DEVICES_PER_USER} phones registered, the most allowed. "
                       "Revoke one you no longer use (DELETE /api/v1/devices/{id}) and register again.")
    device = Device(organization_id=user.organization_id, user_id=user.id, created_at=now, updated_at=now, **fields)
    session.add(device)
    session.flush()
    clear, digest = new_token(DEVICE_TOKEN)
    session.add(AccessToken(organization_id=user.organization_id, user_id=user.id, device_id=device.id,
                            token_hash=digest, created_at=now))
    session.flush()
    return device, clear


def get_device(session, device_id: int) -> Device:
    device = session.get(Device, device_id)
    if device is None or device.revoked_at is not None:
        raise not_found("device")
    return device


def owned_device(session, device_id: int, *, user: User, acting_device: Device | None = None,
                 allow_admin: bool = False) -> Device:
    """The device if the caller may act on it. Another user's device is a 404
    to a rep (it is not theirs to know of), a 403 to nobody."""
    device = get_device(session, device_id)
    if acting_device is not None and acting_device.id != device.id:
        raise not_found("device")
    if device.user_id != user.id and not (allow_admin and user.role == "admin"):
        raise not_found("device")
    return device


def update_device(session, device: Device, changes: dict, now: datetime) -> Device:
    for key, value in changes.items():
        setattr(device, key, value)
    device.updated_at = now
    session.flush()
    return device


def revoke_device(session, device: Device, now: datetime) -> None:
    """Revoke the device and every token it holds; forget its push addresses."""
    device.revoked_at = now
    device.fcm_token = device.fcm_fid = None
    session.execute(update(AccessToken).where(AccessToken.device_id == device.id, AccessToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    session.flush()


__all__ = ["MAX_DEVICES_PER_USER", "register_device", "get_device", "owned_device", "update_device", "revoke_device",
           "forbidden"]
