"""Is a number erased? Uploads drop erased numbers instead of storing them."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.errors import ServiceError
from mobile_sync.number_hash import ERASED, number_hash
from mobile_sync.store.models import ErasedNumber


_ANY_ERASED = select(ErasedNumber.id).where(ErasedNumber.organization_id == bindparam("org")).limit(1)
# The hashes as one list; on PostgreSQL one array, never prepared
# (`driver_rows`): a generic plan would probe the index once per hash.
_ERASED_AMONG = {
    on_postgresql: select(ErasedNumber.number_hash).where(
        ErasedNumber.organization_id == bindparam("org"), one_of(ErasedNumber.number_hash, "hashes", on_postgresql))
    for on_postgresql in (False, True)
}


def erased_numbers(session, organization_id: int, e164s: Iterable[str | None], hash_key: str) -> set[str]:
    """Those of `e164s` (None ignored) that were erased in this organisation."""
    if not driver_rows(session.connection(), _ANY_ERASED, {"org": organization_id}):
        return set()  # nobody was ever erased here (the usual case): no number to hash and look up
    e164s = set(filter(None, e164s))
    if not e164s:
        return set()
    by_hash = {number_hash(hash_key, ERASED, organization_id, e164): e164 for e164 in e164s}
    connection = session.connection()
    found = driver_rows(connection, _ERASED_AMONG[connection.dialect.name == "postgresql"],
                        {"org": organization_id, "hashes": list(by_hash)}, prepare=False)
    return {by_hash[h] for (h,) in found}


def refuse_erased(session, organization_id: int, numbers, hash_key: str, field: str = "phones") -> None:
    """409 `erased_number` naming each number (by position) that was erased:
    a person who asked to be forgotten is not typed back in."""
    erased = erased_numbers(session, organization_id, {n.e164 for n in numbers if n.e164}, hash_key)
    if erased:
        raise ServiceError(409, "erased_number", "A number was erased at the person's request.",
                           fields={field: {str(i): ["Erased at the person's request."]
                                           for i, n in enumerate(numbers) if n.e164 in erased}})
