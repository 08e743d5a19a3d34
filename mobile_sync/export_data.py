"""The complete export of one organisation's data, in standard formats.

A zip holding, for the organisation's row and for every organisation-scoped
table, `jsonl/<table>.jsonl` (one JSON object per row, the form an import
reads) and `csv/<table>.csv` (the same rows for spreadsheets), and
`manifest.json` with each table's row count and columns and the SHA-256 of
every file.

Rows are streamed from the database straight into the zip, and the zip goes
to a file the caller gives (a temporary file for the API), so a large
organisation is never held in memory, let alone twice. The whole export reads
one consistent state of the database (`store.archive.snapshot`).

Secrets never leave: password hashes, token and API key hashes, the
phones' FCM tokens, webhook signing secrets and CRM API tokens (sealed, but
of no use to the customer and a risk beside a leaked key) are left out, and
the manifest says so.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import re
import shutil
import tempfile
import zipfile
from datetime import date, datetime
from decimal import Decimal
from typing import Callable

from sqlalchemy import func, select

import mobile_sync.store.models  # noqa: F401  (every model, so the metadata is complete)
from mobile_sync.errors import not_found
from mobile_sync.store.archive import schema_revision, snapshot
from mobile_sync.store.models.base import Base, OrgScoped

FORMAT = "callsync-export"
VERSION = 1
MANIFEST = "manifest.json"
SECRET_COLUMNS = ("password_hash", "token_hash", "key_hash", "fcm_token", "fcm_fid")
# Secrets held sealed with SECRETS_KEY, by table: an import cannot restore these
# tables without them (mobile_sync.import_rows.NOT_RESTORED).
SEALED_SECRETS = {"webhook_endpoints": ("secret", "previous_secret"), "crm_connections": ("token",)}
Progress = Callable[[int, int], None]  # (rows written, rows in all)
CHUNK_ROWS = 1000

NOTES = [
    "Secrets are never exported: password hashes, access-token, invite and API-key hashes and the phones' "
    "FCM tokens, webhook signing secrets and CRM API tokens (see omitted_columns). Users restored from this "
    "export have no password, phones must register again, and webhooks and CRM connections must be set up "
    "again.",
    "jsonl/<table>.jsonl is the complete form: one JSON object per row, times in ISO 8601 (UTC). "
    "csv/<table>.csv holds the same rows: an empty cell is null, JSON columns are JSON text, "
    "booleans are true/false, and a text that a spreadsheet would run as a formula (starting with =, @, a "
    "tab or carriage return, or with + or - not followed by a plain number) starts with an apostrophe.",
    "Phone-book numbers, suppressions and erased numbers are keyed hashes (HMAC with the service's key and "
    "the organisation's id), so they match again only on a service with the same key (hash_key_id) and "
    "in an organisation with the same id.",
    "record_type/record_id columns point at contacts, leads or users by their ids in this export.",
]


def exported_tables() -> list:
    """`organizations`, then every organisation-scoped table, in foreign-key order."""
    scoped = {mapper.local_table.name for mapper in Base.registry.mappers if issubclass(mapper.class_, OrgScoped)}
    return [t for t in Base.metadata.sorted_tables if t.name == "organizations" or t.name in scoped]


def _secret(table, column) -> bool:
    return column.name in SECRET_COLUMNS or column.name in SEALED_SECRETS.get(table.name, ())


def exported_columns(table) -> list:
    return [column for column in table.columns if not _secret(table, column)]


def omitted_columns() -> dict[str, list[str]]:
    out = {}
    for table in exported_tables():
        secret = [c.name for c in table.columns if _secret(table, c)]
        if secret:
            out[table.name] = secret
    return out


def hash_key_id(hash_key: str) -> str:
    """Names the service's hashing key without revealing it, so an import can
    tell whether the export's keyed hashes still match here."""
    return hmac.new(hash_key.encode(), b"callsync-export:hash-key-id", hashlib.sha256).hexdigest()[:16]


def org_filter(table, organization_id: int):
    return table.c.id == organization_id if table.name == "organizations" else \
        table.c.organization_id == organization_id


def json_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    return value


def _python_type(column):
    column_type = getattr(column.type, "impl_instance", column.type)  # a TypeDecorator's own type
    try:
        return column_type.python_type
    except NotImplementedError:
        return object


# What a spreadsheet opening the CSV would run as a formula: "=", "@", a tab or
# a carriage return first, or "+" / "-" first unless a plain number follows
# (an E.164 phone number stays as it is). Names and notes come from phones'
# contact lists and callers, so anyone can write one ("CSV injection").
_FORMULA = re.compile(r"[=@\t\r]|[+-](?![\d .()-]*\Z)")


def spreadsheet_text(value: str) -> str:
    """A text cell a spreadsheet shows as text: a leading apostrophe before
    anything it would run. The JSON Lines copy keeps the value exactly."""
    return "'" + value if _FORMULA.match(value) else value


def _converters(columns) -> tuple[list, list]:
    """Per-column conversions, only where a value needs one: (for JSON, then for CSV)."""
    to_json, to_csv = [], []
    for index, column in enumerate(columns):
        kind = _python_type(column)
        if kind in (datetime, date):
            to_json.append((index, lambda v: v.isoformat()))
        elif kind not in (int, str, bool, float, dict, list):
            to_json.append((index, json_value))
        if kind is bool:
            to_csv.append((index, lambda v: "true" if v else "false"))
        elif kind is str:
            to_csv.append((index, spreadsheet_text))
        elif kind in (dict, list) or kind is object:
            to_csv.append((index, lambda v: v if isinstance(v, str) else
                           json.dumps(v, ensure_ascii=False, separators=(",", ":"))))
    return to_json, to_csv


class _HashingWriter:
    """A binary file-like that counts and hashes what passes through it."""

    def __init__(self, target):
        self.target, self.sha256, self.bytes = target, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self.target.write(data)

    def summary(self) -> dict:
        return {"sha256": self.sha256.hexdigest(), "bytes": self.bytes}


def _write_table(connection, zf: zipfile.ZipFile, table, organization_id: int, on_rows: Callable[[int], None]) -> dict:
    columns = exported_columns(table)
    names = [c.name for c in columns]
    json_path, csv_path = f"jsonl/{table.name}.jsonl", f"csv/{table.name}.csv"
    to_json, to_csv = _converters(columns)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    rows = 0
    # The CSV copy is spooled to disk while the JSON Lines entry is written
    # (a zip takes one entry at a time), so the rows are read only once.
    # Both are written a chunk of rows at a time.
    with tempfile.TemporaryFile() as spool:
        csv_buffer = io.StringIO()
        writer = csv.writer(csv_buffer)
        writer.writerow(names)
        with zf.open(json_path, "w", force_zip64=True) as entry:
            json_out = _HashingWriter(entry)
            result = connection.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(
                select(*columns).where(org_filter(table, organization_id)).order_by(table.c.id))
            for chunk in result.partitions(CHUNK_ROWS):
                lines = []
                for row in chunk:
                    values = list(row)
                    for index, convert in to_json:
                        if values[index] is not None:
                            values[index] = convert(values[index])
                    lines.append(encode(dict(zip(names, values))))
                    for index, convert in to_csv:
                        if values[index] is not None:
                            values[index] = convert(values[index])
                    writer.writerow(values)  # None is written as an empty cell
                json_out.write(("\n".join(lines) + "\n").encode())
                spool.write(csv_buffer.getvalue().encode())
                csv_buffer.seek(0)
                csv_buffer.truncate()
                rows += len(chunk)
                on_rows(len(chunk))
        spool.write(csv_buffer.getvalue().encode())
        spool.seek(0)
        with zf.open(csv_path, "w", force_zip64=True) as entry:
            csv_out = _HashingWriter(entry)
            shutil.copyfileobj(spool, csv_out, 1024 * 1024)
    return {"rows": rows, "columns": names, "files": {json_path: json_out.summary(), csv_path: csv_out.summary()}}


def write_export(session, *, organization_id: int, out, hash_key: str, now: datetime,
                 progress: Progress | None = None) -> dict:
    """Write the organisation's complete data as a zip to `out` (a binary file
    opened for writing); return the manifest."""
    with snapshot(session) as connection:
        org_table = Base.metadata.tables["organizations"]
        if connection.execute(select(org_table.c.id).where(org_table.c.id == organization_id)).first() is None:
            raise not_found("organization")
        tables = exported_tables()
        total = sum(connection.execute(select(func.count()).select_from(t).where(org_filter(t, organization_id)))
                    .scalar_one() for t in tables)
        done = 0

        def on_rows(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, total)

        manifest = {
            "format": FORMAT, "version": VERSION, "organization_id": organization_id,
            "created_at": now.isoformat(), "schema_revision": schema_revision(connection),
            "hash_key_id": hash_key_id(hash_key), "omitted_columns": omitted_columns(), "notes": NOTES,
            "tables": {},
        }
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for table in tables:
                manifest["tables"][table.name] = _write_table(connection, zf, table, organization_id, on_rows)
            manifest["total_rows"] = sum(t["rows"] for t in manifest["tables"].values())
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    if progress is not None:
        progress(manifest["total_rows"], manifest["total_rows"])
    return manifest


def read_manifest(zf: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise ValueError("not an export: manifest.json is missing")
    if manifest.get("format") != FORMAT:
        raise ValueError("not an export of this service")
    if manifest.get("version", 0) > VERSION:
        raise ValueError(f"export format version {manifest.get('version')} is newer than this service reads")
    return manifest


def verify_checksums(zf: zipfile.ZipFile, manifest: dict) -> list[str]:
    """The files whose content does not match the manifest (empty when the export is intact)."""
    bad = []
    for table in manifest["tables"].values():
        for path, expected in table["files"].items():
            digest = hashlib.sha256()
            try:
                with zf.open(path) as entry:
                    for chunk in iter(lambda: entry.read(1024 * 1024), b""):
                        digest.update(chunk)
            except KeyError:
                bad.append(path)
                continue
            if digest.hexdigest() != expected["sha256"]:
                bad.append(path)
    return bad
