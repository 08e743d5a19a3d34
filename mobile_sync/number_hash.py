"""Keyed hashes of phone numbers, per organisation and purpose.

The key comes from the service's configuration (HASH_KEY), not from the
database, so a copy of the database alone cannot be searched for a number.
"""
from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

PHONEBOOK = "phonebook"
ERASED = "erased"
CRM_PULLED = "crm_pulled"  # the numbers a CRM gave a pulled person (crm_person_links)


@lru_cache(maxsize=131_072)  # batches repeat numbers; an HMAC costs ~3 µs
def number_hash(key: str, purpose: str, organization_id: int, e164: str) -> str:
    message = f"{purpose}:{organization_id}:{e164}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
