"""Secrets at rest: sealed with a Fernet key derived from SECRETS_KEY, so a
copy of the database alone does not give them away. Never logged."""
from __future__ import annotations

import base64
import hashlib
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

SECRET_PREFIX = "whsec_"


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    # Any string works as SECRETS_KEY: the Fernet key is its SHA-256.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(("callsync-secrets:" + key).encode()).digest()))


def seal(key: str, value: str) -> str:
    return _fernet(key).encrypt(value.encode()).decode()


def unseal(key: str, token: str) -> str:
    """The sealed value; ValueError if it was sealed with another key."""
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("sealed with another SECRETS_KEY") from None


def new_webhook_secret() -> str:
    """`whsec_` + 32 random bytes in base64, as Standard Webhooks shows them."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
