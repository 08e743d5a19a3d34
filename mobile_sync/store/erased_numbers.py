"""Which numbers were erased: the look-up every upload and processing run makes
(one prebuilt statement per engine, straight to the driver)."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select

from mobile_sync.number_hash import ERASED, number_hash
from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import per_engine
from mobile_sync.store.models import ErasedNumber


_ANY_ERASED = select(ErasedNumber.id).where(ErasedNumber.organization_id == bindparam("org")).limit(1)


class _Statements:
    """The hashes as one expanding list."""

    postgresql = False

    def __init__(self):
        self.erased_among = select(ErasedNumber.number_hash).where(
            ErasedNumber.organization_id == bindparam("org"),
            one_of(ErasedNumber.number_hash, "hashes", self.postgresql))


class _PostgresStatements(_Statements):
    """The hashes as one array, never prepared (`driver_rows`): a generic
    plan would probe the index once per hash."""

    postgresql = True


_statements = per_engine(_Statements, _PostgresStatements)


def erased_numbers(session, organization_id: int, e164s: Iterable[str | None], hash_key: str) -> set[str]:
    """Those of `e164s` (None ignored) that were erased in this organisation."""
    if not driver_rows(session.connection(), _ANY_ERASED, {"org": organization_id}):
        return set()  # nobody was ever erased here (the usual case): no number to hash and look up
    e164s = set(filter(None, e164s))
    if not e164s:
        return set()
    by_hash = {number_hash(hash_key, ERASED, organization_id, e164): e164 for e164 in e164s}
    found = driver_rows(session.connection(), _statements(session).erased_among,
                        {"org": organization_id, "hashes": list(by_hash)}, prepare=False)
    return {by_hash[h] for (h,) in found}
