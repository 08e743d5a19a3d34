"""The checksums a backup's manifest records and a restore is checked against.

Per table: a row count and a SHA-256 of the rows in primary-key order; per
file: its SHA-256. The checksums normalise values (UTC timestamps, sorted JSON
keys, booleans), so the same data gives the same checksum on SQLite and on
PostgreSQL.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import MetaData, column, create_engine, select, table
from sqlalchemy.pool import NullPool


def normalise(value):
    """A JSON-ready form of a column value that SQLite and PostgreSQL agree on."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:  # SQLite keeps UTC timestamps naive
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "hex:" + bytes(value).hex()
    return str(value)


def table_checksums(conn, metadata: MetaData) -> dict[str, dict]:
    """Per table of the database: row count and SHA-256 of its rows in primary-key order.

    Columns are read through the models' types where the models know the table
    (so JSON and timestamps come back as Python values on both engines) and
    through reflected types otherwise (alembic_version, tables the code dropped).
    """
    reflected = MetaData()
    reflected.reflect(bind=conn)
    result = {}
    for name in sorted(reflected.tables):
        found = reflected.tables[name]
        known = metadata.tables.get(name)
        names = sorted(c.name for c in found.columns)
        typed = table(name, *[column(n, (known.c[n] if known is not None and n in known.c else found.c[n]).type)
                              for n in names])
        order = [typed.c[c.name] for c in found.primary_key.columns] or list(typed.c)
        digest = hashlib.sha256(json.dumps(names).encode() + b"\n")
        rows = 0
        query = select(*typed.c).order_by(*order).execution_options(yield_per=2000)
        for row in conn.execute(query):
            line = json.dumps([normalise(v) for v in row], sort_keys=True, ensure_ascii=False,
                              separators=(",", ":"))
            digest.update(line.encode() + b"\n")
            rows += 1
        result[name] = {"rows": rows, "sha256": digest.hexdigest()}
    return result


def database_checksums(uri: str, metadata: MetaData) -> dict[str, dict]:
    """Checksums of the database at `uri`, read on a connection of our own."""
    engine = create_engine(uri, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return table_checksums(conn, metadata)
    finally:
        engine.dispose()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- comparing -----------------------------------------------------------------

@dataclass
class TableCheck:
    table: str
    expected: dict | None
    actual: dict | None

    @property
    def ok(self) -> bool:
        return self.expected == self.actual

    def describe(self) -> str:
        if self.ok:
            return f"OK  {self.table}: {self.actual['rows']} rows"
        if self.actual is None:
            return f"MISSING  {self.table}: in the backup ({self.expected['rows']} rows), not in the database"
        if self.expected is None:
            return f"UNEXPECTED  {self.table}: in the database ({self.actual['rows']} rows), not in the backup"
        problems = []
        if self.expected["rows"] != self.actual["rows"]:
            problems.append(f"{self.expected['rows']} rows in the backup, {self.actual['rows']} restored")
        if self.expected["sha256"] != self.actual["sha256"]:
            problems.append("content checksum differs")
        return f"MISMATCH  {self.table}: " + "; ".join(problems)


def compare(expected: dict, actual: dict) -> list[TableCheck]:
    return [TableCheck(name, expected.get(name), actual.get(name)) for name in sorted(set(expected) | set(actual))]
