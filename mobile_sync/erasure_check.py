"""Is a number erased? Uploads drop erased numbers instead of storing them,
and typed-in records refuse them."""
from __future__ import annotations

from mobile_sync.errors import ServiceError
from mobile_sync.store.erased_numbers import erased_numbers


def refuse_erased(session, organization_id: int, numbers, hash_key: str, field: str = "phones") -> None:
    """409 `erased_number` naming each number (by position) that was erased:
    a person who asked to be forgotten is not typed back in."""
    erased = erased_numbers(session, organization_id, {n.e164 for n in numbers if n.e164}, hash_key)
    if erased:
        raise ServiceError(409, "erased_number", "A number was erased at the person's request.",
                           fields={field: {str(i): ["Erased at the person's request."]
                                           for i, n in enumerate(numbers) if n.e164 in erased}})
