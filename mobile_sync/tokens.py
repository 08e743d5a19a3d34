"""Random bearer tokens and API keys, stored only as hashes."""
from __future__ import annotations

import hashlib
import secrets

USER_TOKEN = "csu_"
DEVICE_TOKEN = "csd_"
API_KEY = "csk_"
INVITE_TOKEN = "csi_"
RESET_TOKEN = "csr_"


def new_token(prefix: str) -> tuple[str, str]:
    """Return (clear token, its hash). The clear token is shown once."""
    clear = prefix + secrets.token_urlsafe(32)
    return clear, hash_token(clear)


def hash_token(clear: str) -> str:
    """SHA-256 hex: tokens carry 256 bits of randomness, so no slow hash is needed."""
    return hashlib.sha256(clear.encode("utf-8", "surrogatepass")).hexdigest()
