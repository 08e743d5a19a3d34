"""Standard Webhooks signatures: `v1,` + base64 HMAC-SHA256 of
`{id}.{timestamp}.{body}`, keyed with the base64-decoded part of the secret."""
from __future__ import annotations

import base64
import hashlib
import hmac

from mobile_sync.webhooks.sealing import SECRET_PREFIX


def secret_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        secret = secret[len(SECRET_PREFIX):]
    return base64.b64decode(secret)


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, b"%s.%d.%s" % (message_id.encode(), timestamp, body), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(keys: list[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """One signature per key, space-separated (the current secret, then the
    previous one while a rotation's grace period runs)."""
    return " ".join(sign(key, message_id, timestamp, body) for key in keys)
