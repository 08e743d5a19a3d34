"""Is a number erased? Uploads drop erased numbers instead of storing them."""
from __future__ import annotations

from sqlalchemy import select

from mobile_sync.bulk_sql import among
from mobile_sync.number_hash import ERASED, number_hash
from server.models import ErasedNumber


def erased_numbers(session, organization_id: int, e164s: set[str], hash_key: str) -> set[str]:
    """The subset of `e164s` that were erased in this organisation."""
    if not e164s:
        return set()
    by_hash = {number_hash(hash_key, ERASED, organization_id, e164): e164 for e164 in e164s}
    found = session.execute(
        select(ErasedNumber.number_hash).where(ErasedNumber.organization_id == organization_id,
                                               among(session, ErasedNumber.number_hash, by_hash))
    ).scalars()
    return {by_hash[h] for h in found}
