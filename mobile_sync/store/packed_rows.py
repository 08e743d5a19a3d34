"""Integers packed into bytes (the rollups' number sets, delays and, on
SQLite, gaps), the text of an upsert that PostgreSQL takes as one JSON
document a batch, and the conditions (and the deletion) of a rollup
table's rows of an organisation (one user's, between two days). No statement runs here."""
from __future__ import annotations

import sys
from array import array
from datetime import date

from sqlalchemy import delete

_LITTLE = sys.byteorder == "little"


def pack(values, typecode: str) -> bytes:
    """Integers packed little-endian ("Q": numbers, "I": seconds, gaps)."""
    packed = array(typecode, values)
    if not _LITTLE:
        packed.byteswap()
    return packed.tobytes()


def unpack(data: bytes | None, typecode: str) -> array:
    values = array(typecode)
    values.frombytes(data or b"")
    if not _LITTLE:
        values.byteswap()
    return values


def recordset_upsert(table, key: tuple[str, ...], types: dict[str, str], updated: tuple[str, ...],
                     guard: str = "", *, add: bool = False) -> str:
    """INSERT ... SELECT FROM json_to_recordset(:rows) ON CONFLICT DO UPDATE:
    one statement of constant text a batch (bytes travel as hex). `add`:
    a conflicting row takes the sums (each updated column plus the new value)."""
    columns = ("organization_id", *types)
    values = ", ".join(f"decode(r.{name}, 'hex')" if kind == "bytea" else f"r.{name}" for name, kind in types.items())
    record = ", ".join(f"{name} {'text' if kind == 'bytea' else kind}" for name, kind in types.items())
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT :org, {values} "
            f"FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{name} = {table + '.' + name + ' + ' if add else ''}EXCLUDED.{name}" for name in updated)
            + guard)


def hex_bytes(value):
    """orjson's `default` for bytes: hex text (what `recordset_upsert` decodes)."""
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def day_range(table, organization_id: int, user_id: int | None = None, first: date | None = None,
              last: date | None = None) -> list:
    """The conditions on `table`'s rows (keyed by organisation, user and day)
    of the organisation, of one user if given, between `first` and `last`
    (inclusive) if given: the one place these optional filters are built."""
    c = table.c
    conditions = [c.organization_id == organization_id]
    if user_id is not None:
        conditions.append(c.user_id == user_id)
    if first is not None:
        conditions.append(c.day >= first)
    if last is not None:
        conditions.append(c.day <= last)
    return conditions


def day_rows_deletion(table, organization_id: int, user_id: int | None = None, first: date | None = None,
                      last: date | None = None):
    """DELETE of `table`'s rows (keyed by organisation, user and day) of the
    organisation, of one user if given, between `first` and `last` if given."""
    return delete(table).where(*day_range(table, organization_id, user_id, first, last))
