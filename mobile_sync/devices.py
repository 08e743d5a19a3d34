"""Phones: registration, FCM token rotation, revocation."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from mobile_sync.errors import conflict, forbidden, not_found
from mobile_sync.tokens import DEVICE_TOKEN, new_token
from mobile_sync.store.models import AccessToken, ConsentState, Device, Organization, SyncCursor, User
from mobile_sync.sync_health import add_silence


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


MAX_TRACKED_ACCOUNTS = 10


def set_tracking(session, device: Device, phone_account_ids: list[str] | None, now: datetime) -> dict:
    """Work SIM only: keep only calls on these Android phone accounts (an
    empty list: every account). Takes effect from the next upload; calls
    dropped before are gone for good (they were never stored)."""
    ids = list(dict.fromkeys(phone_account_ids or ()))  # order kept, repeats once
    device.tracked_accounts = ids or None
    device.updated_at = now
    session.flush()
    return tracking_of(device)


def tracking_of(device: Device) -> dict:
    return {"device_id": device.id, "phone_account_ids": list(device.tracked_accounts or ())}


def revoke_device(session, device: Device, now: datetime) -> None:
    """Revoke the device and every token it holds; forget its push addresses."""
    device.revoked_at = now
    device.fcm_token = device.fcm_fid = None
    session.execute(update(AccessToken).where(AccessToken.device_id == device.id, AccessToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    session.flush()


def _push_kind(device: Device) -> str | None:
    """How a push reaches the phone; the installation ID is preferred, as the sender prefers it."""
    if device.fcm_fid:
        return "fid"
    return "token" if device.fcm_token else None


def list_devices(session, *, organization_id: int, user_id: int | None = None, own_user_id: int | None = None,
                 page: int = 1, limit: int = 50, now: datetime | None = None) -> tuple[list[dict], int | None]:
    """The organisation's registered phones (revoked ones aside), newest first,
    `limit` a page: `user_id`'s only if given, and only `own_user_id`'s for a
    rep. Two statements a page: the phones with their latest upload and the
    latest use of their device token, then their consent; given `now`, a
    third for their users, to say which phones went silent (`mobile_sync.sync_health`)."""
    last_upload = (select(func.max(SyncCursor.last_synced_at))
                   .where(SyncCursor.device_id == Device.id).correlate(Device).scalar_subquery())
    last_used = (select(func.max(AccessToken.last_used_at))
                 .where(AccessToken.device_id == Device.id).correlate(Device).scalar_subquery())
    query = select(Device, last_upload.label("last_upload_at"), last_used.label("last_used_at")).where(
        Device.organization_id == organization_id, Device.revoked_at.is_(None))
    for only in (user_id, own_user_id):
        if only is not None:
            query = query.where(Device.user_id == only)
    rows = session.execute(query.order_by(Device.id.desc()).offset((page - 1) * limit).limit(limit + 1)).all()
    next_page = page + 1 if len(rows) > limit else None
    rows = rows[:limit]
    consent: dict[int, dict[str, ConsentState]] = {}
    if rows:
        states = session.execute(select(ConsentState).where(
            ConsentState.organization_id == organization_id,
            ConsentState.device_id.in_([device.id for device, _, _ in rows]))).scalars()
        for state in states:
            consent.setdefault(state.device_id, {})[state.scope] = state
    items = [_device_item(device, last_upload_at, last_used_at, consent.get(device.id, {}))
             for device, last_upload_at, last_used_at in rows]
    if now is not None:
        add_silence(session, session.get(Organization, organization_id), items, now)
    return items, next_page


def _device_item(device: Device, last_upload_at: datetime | None, last_used_at: datetime | None,
                 states: dict[str, ConsentState]) -> dict:
    latest = max(states.values(), key=lambda state: state.updated_at, default=None)
    # Last seen: the latest request of its device token (kept to the nearest
    # few minutes, `store.credentials.TOUCH_EVERY`), or of what it wrote.
    seen = [moment for moment in (device.created_at, device.updated_at, last_upload_at, last_used_at,
                                  latest.updated_at if latest else None) if moment is not None]
    return {
        "device_id": device.id, "user_id": device.user_id, "model": device.model, "app_version": device.app_version,
        "consent": {"contacts": bool(states.get("contacts") and states["contacts"].granted),
                    "call_log": bool(states.get("call_log") and states["call_log"].granted),
                    "policy_version": latest.policy_version if latest else None},
        "last_upload_at": last_upload_at, "last_seen_at": max(seen, default=None),
        "push": _push_kind(device), "sealed": device.push_public_key is not None,
        "health": device.health,
        "health_reported_at": device.health_reported_at,
        "phone_account_ids": list(device.tracked_accounts or ()),
        "registered_at": device.created_at, "silent": False, "silent_since": None,
    }


__all__ = ["MAX_DEVICES_PER_USER", "MAX_TRACKED_ACCOUNTS", "set_tracking", "tracking_of", "register_device", "get_device", "owned_device", "update_device", "revoke_device",
           "list_devices", "forbidden"]
