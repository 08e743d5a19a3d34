"""What a push carries: strings only, under FCM's 4 KB, and never personal
data in clear. With the device's X25519 key, the caller's context travels
sealed for that device alone (libsodium sealed box); without one, the push
carries only an opaque id that the app resolves through the API."""
from __future__ import annotations

import base64
import json

from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox

from mobile_sync.number_hash import number_hash

FCM_MAX_BYTES = 4096
RINGING_TTL_S = 30
NOTICE_TTL_S = 24 * 3600

# Shown by Android as the notification; deliberately free of personal data.
NOTIFICATIONS = {
    "ringing": ("Incoming call", "Open CallSync to see who is calling."),
    "new_lead": ("New lead from your call", "Open CallSync to add details."),
    "lead_queue": ("Leads waiting for review", "Open CallSync to review them."),
    "task": ("Call back a customer", "Open CallSync to see your call-back tasks."),
    "directory_changed": None,
}


class SealError(ValueError):
    """The device's key cannot be sealed to (not a usable X25519 point)."""


def can_seal_to(raw_key: bytes) -> bool:
    """Whether a sealed box can be made for this 32-byte key. libsodium
    refuses low-order points (all zeros, for one) only when it seals, so the
    key is tried with a probe when the phone registers it."""
    try:
        SealedBox(PublicKey(raw_key)).encrypt(b"probe")
    except (CryptoError, ValueError, TypeError):
        return False
    return True


def seal(public_key_b64: str, payload: dict) -> str:
    """`payload` sealed for the key's holder alone; SealError if the key cannot be used."""
    try:
        box = SealedBox(PublicKey(base64.b64decode(public_key_b64)))
        sealed = box.encrypt(json.dumps(payload, separators=(",", ":"), default=str).encode())
    except (CryptoError, ValueError, TypeError) as err:
        raise SealError("the device's push key cannot be sealed to") from err
    return base64.b64encode(sealed).decode()


def collapse_key(hash_key: str, organization_id: int, kind: str, e164: str | None) -> str:
    """One collapse key per number, keyed so it does not reveal the number."""
    if not e164:
        return kind
    return f"{kind}-{number_hash(hash_key, 'collapse', organization_id, e164)[:20]}"


def build_data(kind: str, push_id: str, context: dict | None, public_key: str | None) -> dict[str, str]:
    """The data message for one device. `context` holds the personal fields."""
    data = {"kind": kind, "push_id": push_id, "v": "1"}
    if context is None:
        return data
    if public_key:
        trimmed = dict(context)
        data["sealed"] = seal(public_key, trimmed)
        while _size(data) > FCM_MAX_BYTES - 512 and trimmed.get("last_note"):
            trimmed["last_note"] = trimmed["last_note"][: len(trimmed["last_note"]) // 2]
            data["sealed"] = seal(public_key, trimmed)
    else:
        data["resolve"] = "GET /api/v1/caller-id" if kind == "ringing" else "GET /api/v1/leads"
    return data


def _size(data: dict) -> int:
    return len(json.dumps(data).encode())
