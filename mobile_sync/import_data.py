"""Restoring an export (`mobile_sync.export_data`) into an empty organisation.

Every row gets a new id, and everything that points at a row follows it:
foreign keys, the polymorphic `record_type`/`record_id` pairs (contacts,
leads, users), the integer references without a foreign key (a lead's first
call, a task's call, a suppression's lead, the audit's actors and objects),
and the ids inside the settings (tracking numbers' owners, campaign devices).
The phone index rows are part of the export, so caller ID works at once.

What cannot come back is reported, never guessed:
- Secrets were never exported. Users come back without a password and cannot
  log in until they are invited again (see `import_rows.PASSWORD_NOT_SET`);
  API keys come back revoked and open invites withdrawn (their clear values
  are unknown); access tokens are not restored (people sign in again, phones
  register again, which also gives them their FCM token back).
- A user whose e-mail already has an account on this service is skipped (or,
  when that account is in the target organisation, the rows are given to it);
  rows that cannot exist without a skipped user (their devices, and the
  devices' calls and phone book) are skipped too, and counted.
- Keyed hashes include the organisation's id and the service's key. Into the
  same organisation id with the same key they are kept as they are. Otherwise
  they are recomputed wherever the number is known (phone-book numbers kept in
  clear, suppressions of leads that still have their number) and the others
  are left out, counted: they would never match again, and an erasure could
  not find them (recorded pushes keep their row, without the per-number
  collapse key and sealed payload). Erased numbers cannot be recomputed (only
  their hash is left, by design), so such an import is refused unless the
  operator accepts to lose them (`forget_erasures`).
"""
from __future__ import annotations

import json
import zipfile
from datetime import datetime

from sqlalchemy import func, select

from mobile_sync.errors import ServiceError, conflict, not_found
from mobile_sync.export_data import exported_tables, hash_key_id, org_filter, read_manifest, verify_checksums
from mobile_sync.import_rows import ImportReport, Progress, Importer
from mobile_sync.reports.rebuild import rebuild_reports
from mobile_sync.store.archive import follow_explicit_ids
from mobile_sync.store.statistics import refresh_statistics
from mobile_sync.store.models import Organization

# A target organisation may already hold its own accounts (someone signed up
# to create it), but nothing else.
ALLOWED_IN_TARGET = ("users", "access_tokens", "access_events")


def organization_contents(session, organization_id: int) -> dict[str, int]:
    """Rows the organisation holds, per exported table (its own row aside)."""
    counts = {}
    for table in exported_tables():
        if table.name == "organizations":
            continue
        count = session.execute(select(func.count()).select_from(table)
                                .where(org_filter(table, organization_id))).scalar_one()
        if count:
            counts[table.name] = count
    return counts


def _target_organization(session, organization_id: int, manifest: dict, create: bool, now: datetime) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        if not create:
            raise not_found("organization")
        exported = manifest.get("organization") or {}
        org = Organization(id=organization_id, name=exported.get("name") or "Imported organisation",
                           region=exported.get("region") or "US", plan="trial", settings={}, created_at=now)
        session.add(org)
        session.flush()
        follow_explicit_ids(session, Organization.__table__)
        return org
    if create:
        raise conflict("organization_exists", f"Organisation {organization_id} already exists; "
                                              "import into it without creating it, or choose a free id.")
    busy = {name: count for name, count in organization_contents(session, organization_id).items()
            if name not in ALLOWED_IN_TARGET}
    if busy:
        listed = ", ".join(f"{name} {count}" for name, count in sorted(busy.items()))
        raise conflict("organization_not_empty",
                       f"Organisation {organization_id} already holds data ({listed}); import only into an "
                       "empty organisation.")
    return org


def import_export(session, *, source, organization_id: int, hash_key: str, now: datetime, create: bool = False,
                  forget_erasures: bool = False, progress: Progress | None = None) -> ImportReport:
    """Restore the export in `source` (a path or a binary file) into the empty
    organisation `organization_id` (created with that id when `create`)."""
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as err:
        raise ServiceError(422, "invalid_export", f"Not a readable zip file ({type(err).__name__}).")
    with zf:
        try:
            manifest = read_manifest(zf)
        except (ValueError, KeyError) as err:
            raise ServiceError(422, "invalid_export", str(err))
        damaged = verify_checksums(zf, manifest)
        if damaged:
            raise ServiceError(422, "invalid_export", "The export is damaged: checksum mismatch in "
                               + ", ".join(damaged[:5]))
        manifest["organization"] = next(iter(_first_row(zf, "organizations")), None)
        org = _target_organization(session, organization_id, manifest, create, now)
        rekey = not (manifest["organization_id"] == org.id and manifest.get("hash_key_id") == hash_key_id(hash_key))
        erased = manifest["tables"].get("erased_numbers", {}).get("rows", 0)
        if rekey and erased and not forget_erasures:
            raise conflict("erasures_not_portable",
                           f"The export holds {erased} erased numbers, kept only as hashes keyed to organisation "
                           f"{manifest['organization_id']} and this service's key. Imported here they would no "
                           "longer stop uploads of those numbers. Restore into an organisation with id "
                           f"{manifest['organization_id']} on a service with the same HASH_KEY, or accept losing "
                           "them (forget erasures).")
        current = {t.name: t for t in exported_tables()}
        tables = [current[name] for name in manifest["tables"] if name in current and name != "organizations"]
        report = Importer(session, zf, manifest, org, hash_key=hash_key, now=now, rekey=rekey,
                           progress=progress).run(tables)
        for name in manifest["tables"]:
            if name not in current:
                report.notes.append(f"table {name} is unknown to this version and was not imported")
        if report.imported.get("devices") or report.not_restored.get("access_tokens"):
            report.notes.append("Phones must register again (POST /api/v1/devices); people sign in again.")
        if progress is not None:
            progress(manifest.get("total_rows") or 0, manifest.get("total_rows") or 0)
        refresh_statistics(session)  # a restore is a bulk write: SQLite plans with fresh statistics
        rebuild_reports(session, org.id)  # the export leaves the rollups out: they are made from the calls
        return report


def _first_row(zf: zipfile.ZipFile, table_name: str):
    try:
        with zf.open(f"jsonl/{table_name}.jsonl") as entry:
            line = entry.readline()
    except KeyError:
        return []
    return [json.loads(line)] if line.strip() else []
