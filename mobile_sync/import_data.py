"""Restoring an export (`mobile_sync.export_data`) into an empty organisation.

Every row gets a new id, and everything that points at a row follows it:
foreign keys, the polymorphic `record_type`/`record_id` pairs (contacts,
leads, users), the integer references without a foreign key (a lead's first
call, a task's call, a suppression's lead, the audit's actors and objects),
and the ids inside the settings (tracking numbers' owners, campaign devices).
The phone index rows are part of the export, so caller ID works at once.

What cannot come back is reported, never guessed:
- Secrets were never exported. Users come back without a password and cannot
  log in until they are invited again (see `PASSWORD_NOT_SET`); API keys come
  back revoked and open invites withdrawn (their clear values are unknown);
  access tokens are not restored (people sign in again, phones register again,
  which also gives them their FCM token back).
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
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Callable

from sqlalchemy import bindparam, delete, func, insert, select, text, update

from mobile_sync.errors import ServiceError, conflict, not_found
from mobile_sync.export_data import (
    SECRET_COLUMNS, exported_tables, hash_key_id, org_filter, read_manifest, verify_checksums,
)
from mobile_sync.lead_rules import SUPPRESS
from mobile_sync.number_hash import PHONEBOOK, number_hash
from mobile_sync.tokens import new_token
from server.models import Organization
from server.models.base import Base

# Not an argon2 hash: `verify_password` never accepts anything against it.
PASSWORD_NOT_SET = "!imported:no-password"
# A target organisation may already hold its own accounts (someone signed up
# to create it), but nothing else.
ALLOWED_IN_TARGET = ("users", "access_tokens", "access_events")
NOT_RESTORED = ("access_tokens",)
BATCH = 1000
RECORD_TYPES = {"contact": "contacts", "lead": "leads", "user": "users"}
AUDIT_OBJECT_TYPES = {**RECORD_TYPES, "task": "tasks", "note": "notes", "call": "calls", "device": "devices",
                      "api_key": "api_keys", "invite": "invites", "organization": "organizations"}
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SoftRef:
    """An integer column pointing at a row without a foreign key.

    Either always at `target`, or at the table named by the row's
    `type_column` through `types`. `orders` says whether the import order must
    put the target first (False breaks a cycle: the reference is fixed after
    every row is in)."""

    target: str | None = None
    type_column: str | None = None
    types: dict | None = None
    orders: bool = True

    def targets(self) -> set[str]:
        return {self.target} if self.target else set(self.types.values())


_RECORD = SoftRef(type_column="record_type", types=RECORD_TYPES)
SOFT_REFS: dict[tuple[str, str], SoftRef] = {
    ("record_phones", "record_id"): _RECORD,
    ("notes", "record_id"): _RECORD,
    ("tasks", "record_id"): _RECORD,
    ("calls", "record_id"): _RECORD,
    ("tasks", "call_id"): SoftRef(target="calls"),
    ("suppressions", "lead_id"): SoftRef(target="leads"),
    ("leads", "merged_into_id"): SoftRef(type_column="merged_into_type", types=RECORD_TYPES, orders=False),
    ("leads", "created_from_call_id"): SoftRef(target="calls", orders=False),
    ("access_events", "actor_user_id"): SoftRef(target="users"),
    ("access_events", "device_id"): SoftRef(target="devices"),
    ("access_events", "api_key_id"): SoftRef(target="api_keys"),
    ("access_events", "object_id"): SoftRef(type_column="object_type", types=AUDIT_OBJECT_TYPES, orders=False),
}


# Integer `*_id` columns that are not references to our rows: Android's own ids.
NOT_REFERENCES = {("calls", "android_id"), ("phonebook_contacts", "android_contact_id")}


def unknown_reference_columns() -> list[str]:
    """Integer `*_id` columns the import would copy unchanged: neither a
    foreign key nor declared in SOFT_REFS or NOT_REFERENCES. A new one must be declared."""
    out = []
    for table in exported_tables():
        for column in table.columns:
            if (column.name.endswith("_id") and not column.foreign_keys and (table.name, column.name) not in SOFT_REFS
                    and (table.name, column.name) not in NOT_REFERENCES
                    and getattr(column.type, "python_type", None) is int):
                out.append(f"{table.name}.{column.name}")
    return out


@dataclass
class ImportReport:
    organization_id: int
    imported: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    not_restored: dict[str, int] = field(default_factory=dict)
    users_skipped: list[str] = field(default_factory=list)
    users_matched: list[str] = field(default_factory=list)
    users_without_password: int = 0
    references_cleared: int = 0
    rekeyed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hashes_dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    push_keys_cleared: int = 0
    erasures_dropped: int = 0
    ignored_columns: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.imported.values())

    def lines(self) -> list[str]:
        """The report for a person, one fact a line."""
        out = [f"imported into organisation {self.organization_id}: {self.total} rows"]
        out += [f"  {name}: {count}" for name, count in self.imported.items() if count]
        for name, count in self.skipped.items():
            if count:
                out.append(f"skipped {count} {name} rows (they depend on a skipped user or a missing row)")
        for name, count in self.not_restored.items():
            if count:
                out.append(f"not restored: {count} {name} (credentials are never exported)")
        for email in self.users_skipped:
            out.append(f"skipped user {email}: this address already has an account in another organisation")
        for email in self.users_matched:
            out.append(f"user {email} already belongs to this organisation: their rows were given to that account")
        if self.users_without_password:
            out.append(f"{self.users_without_password} users have no password: they cannot log in until an "
                       "admin invites them again")
        for name, count in self.rekeyed.items():
            out.append(f"recomputed {count} keyed hashes of {name} for this organisation")
        for name, count in self.hashes_dropped.items():
            out.append(f"left out {count} {name}: keyed to the exported organisation, with no number to "
                       "recompute them from (phones send their contact list again when they register)")
        if self.push_keys_cleared:
            out.append(f"{self.push_keys_cleared} recorded pushes lost their per-number collapse key and sealed data")
        if self.erasures_dropped:
            out.append(f"dropped {self.erasures_dropped} erased-number hashes (they cannot be recomputed here): "
                       "uploads of those numbers are no longer refused")
        if self.references_cleared:
            out.append(f"cleared {self.references_cleared} references to rows that are not in the export")
        for name, columns in self.ignored_columns.items():
            out.append(f"ignored columns of {name} unknown to this version: {', '.join(sorted(columns))}")
        return out + self.notes

    def as_dict(self) -> dict:
        return {"organization_id": self.organization_id, "imported": dict(self.imported),
                "skipped": {k: v for k, v in self.skipped.items() if v}, "not_restored": self.not_restored,
                "users_skipped": self.users_skipped,
                "users_matched": self.users_matched, "users_without_password": self.users_without_password,
                "references_cleared": self.references_cleared, "rekeyed": dict(self.rekeyed),
                "hashes_dropped": dict(self.hashes_dropped), "push_keys_cleared": self.push_keys_cleared,
                "erasures_dropped": self.erasures_dropped}


def import_order(tables: list) -> list:
    """Tables in an order where every hard foreign key and every ordering soft
    reference points at a table already imported (ties: the metadata's order)."""
    names = {t.name for t in tables}
    position = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
    needs: dict[str, set[str]] = {t.name: set() for t in tables}
    for table in tables:
        for column in table.columns:
            for fk in column.foreign_keys:
                needs[table.name].add(fk.column.table.name)
            ref = SOFT_REFS.get((table.name, column.name))
            if ref is not None and ref.orders:
                needs[table.name] |= ref.targets()
    for name in needs:
        needs[name] = (needs[name] & names) - {name}
    ordered, done = [], set()
    by_name = {t.name: t for t in tables}
    while len(ordered) < len(tables):
        ready = sorted((n for n in needs if n not in done and needs[n] <= done), key=position.get)
        if not ready:
            raise RuntimeError(f"cyclic references among {sorted(set(needs) - done)}; mark one orders=False")
        ordered.append(by_name[ready[0]])
        done.add(ready[0])
    return ordered


def _decoder(column):
    column_type = getattr(column.type, "impl_instance", column.type)  # a TypeDecorator's own type
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return None
    if python_type is datetime:
        def parse(value):
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        return parse
    if python_type is date:
        return date.fromisoformat
    return None


class _Importer:
    def __init__(self, session, zf, manifest, org: Organization, *, hash_key: str, now: datetime, rekey: bool,
                 progress: Progress | None):
        self.session, self.zf, self.manifest, self.org = session, zf, manifest, org
        self.hash_key, self.now, self.rekey, self.progress = hash_key, now, rekey, progress
        self.report = ImportReport(org.id)
        self.maps: dict[str, dict[int, int]] = {"organizations": {manifest["organization_id"]: org.id}}
        self.pending: set[str] = set()
        self.deferred: dict[tuple[str, str], list[tuple[int, str | None, int]]] = defaultdict(list)
        self.rows_read = 0
        self.total = manifest.get("total_rows") or 0

    # --- reading -------------------------------------------------------

    def _rows(self, table_name: str):
        with self.zf.open(f"jsonl/{table_name}.jsonl") as entry:
            for line in entry:
                if line.strip():
                    yield json.loads(line)
                    self.rows_read += 1
                    if self.progress is not None and self.rows_read % BATCH == 0:
                        self.progress(self.rows_read, self.total)

    # --- one row -------------------------------------------------------

    def _resolve(self, target: str, old_id: int) -> int | None:
        if target == "organizations":
            return self.org.id
        return self.maps.get(target, {}).get(old_id)

    def _plan(self, table, keys: list[str]) -> dict:
        """What converting one row of `table` involves, worked out once per table."""
        columns = [table.c[key] for key in keys]
        return {
            "decoders": [(key, decode) for key, decode in ((c.name, _decoder(c)) for c in columns) if decode],
            "hard": [(c.name, next(iter(c.foreign_keys)).column.table.name, c.nullable)
                     for c in columns if c.foreign_keys],
            "soft": [(c.name, SOFT_REFS[(table.name, c.name)], c.nullable)
                     for c in columns if (table.name, c.name) in SOFT_REFS],
        }

    def _convert(self, table, keys: list[str], plan: dict, row: dict) -> tuple[int | None, dict | None, list]:
        """(old id, the row's values for this organisation or None to skip it, deferred references)."""
        values = {key: row.get(key) for key in keys}
        for key, decode in plan["decoders"]:
            if values[key] is not None:
                values[key] = decode(values[key])
        for name, target, nullable in plan["hard"]:
            old = values[name]
            if target == "organizations":
                values[name] = self.org.id
            elif old is not None:
                new = self.maps.get(target, {}).get(old)
                if new is None:
                    if not nullable:
                        return row.get("id"), None, []
                    self.report.references_cleared += 1
                values[name] = new
        deferred = []
        for name, ref, nullable in plan["soft"]:
            old = values[name]
            if old is None:
                continue
            target = ref.target or (ref.types or {}).get(values.get(ref.type_column))
            if target is not None and (target == table.name or target in self.pending):
                # Its row may not be in yet (a cycle, or this very table): set
                # once every row is in. Such columns are nullable (checked below).
                values[name] = None
                deferred.append((name, target, old))
                continue
            new = self._resolve(target, old) if target is not None else None
            if new is None:
                if not nullable:
                    return row.get("id"), None, []
                self.report.references_cleared += 1
            values[name] = new
        return row.get("id"), values, deferred

    def _secrets(self, table_name: str, values: dict) -> None:
        for name in SECRET_COLUMNS:
            if name not in values:
                continue
            if name == "password_hash":
                values[name] = PASSWORD_NOT_SET
                self.report.users_without_password += 1
            elif name in ("token_hash", "key_hash"):
                values[name] = new_token("imported_")[1]  # random: nobody holds its clear value
            else:
                values[name] = None
        if table_name == "api_keys" and values.get("revoked_at") is None:
            values["revoked_at"] = self.now
        if table_name == "invites" and values.get("accepted_at") is None and values.get("withdrawn_at") is None:
            values["withdrawn_at"] = self.now

    def _rekey(self, table_name: str, values: dict) -> bool:
        """Recompute a keyed hash for this organisation; False to leave the row out.

        A hash that cannot be recomputed would never match here, and an
        erasure here could not find it: it is left out, not kept stale."""
        if not self.rekey:
            return True
        if table_name == "phonebook_numbers":
            if not values.get("e164"):
                self.report.hashes_dropped[table_name] += 1
                return False
            values["number_hash"] = number_hash(self.hash_key, PHONEBOOK, self.org.id, values["e164"])
            self.report.rekeyed[table_name] += 1
        elif table_name == "erased_numbers":
            self.report.erasures_dropped += 1
            return False
        elif table_name == "push_messages" and values.get("collapse_key") != values.get("kind"):
            # A history record: without the number its key cannot be recomputed;
            # the sealed payload was for a phone that registers again anyway.
            values["collapse_key"], values["data"] = values["kind"], None
            self.report.push_keys_cleared += 1
        return True

    # --- tables --------------------------------------------------------

    def run(self, tables: list) -> ImportReport:
        self.pending = {t.name for t in tables}
        for table in import_order(tables):
            self.pending.discard(table.name)
            if table.name in NOT_RESTORED:
                self.report.not_restored[table.name] = self.manifest["tables"][table.name]["rows"]
                continue
            self._import_table(table)
        self._fix_deferred()
        if self.rekey:
            self._rekey_suppressions()
        self._restore_organization()
        self.session.flush()
        return self.report

    def _import_table(self, table) -> None:
        exported = self.manifest["tables"][table.name]["columns"]
        known = {c.name for c in table.columns}
        unknown = set(exported) - known
        if unknown:
            self.report.ignored_columns[table.name] |= unknown
        keys = [name for name in exported if name in known and name != "id"]
        keys += [name for name in SECRET_COLUMNS if name in known and name not in keys]
        if "organization_id" in known and "organization_id" not in keys:
            keys.append("organization_id")
        plan = self._plan(table, keys)
        batch: list[tuple[int, dict, list]] = []
        self.maps.setdefault(table.name, {})
        for row in self._rows(table.name):
            old_id, values, deferred = self._convert(table, keys, plan, row)
            if values is None:
                self.report.skipped[table.name] += 1
                continue
            self._secrets(table.name, values)
            if not self._rekey(table.name, values):
                continue
            batch.append((old_id, values, deferred))
            if len(batch) >= BATCH:
                self._insert(table, batch)
                batch = []
        if batch:
            self._insert(table, batch)

    def _insert(self, table, batch: list) -> None:
        if table.name == "users":
            batch = self._place_users(batch)
            if not batch:
                return
        new_ids = self._allocate_ids(table, len(batch))
        rows = [{**values, "id": new_id} for (_, values, _), new_id in zip(batch, new_ids)]
        self.session.execute(insert(table), rows)
        mapping = self.maps[table.name]
        for (old_id, _, deferred), new_id in zip(batch, new_ids):
            mapping[old_id] = new_id
            for column, target, old in deferred:
                self.deferred[(table.name, column)].append((new_id, target, old))
        self.report.imported[table.name] += len(new_ids)

    def _allocate_ids(self, table, count: int) -> list[int]:
        """New ids for `count` rows, taken before the insert so that a batch is
        one statement and each old id knows its new one."""
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            return list(self.session.execute(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
                {"table": table.name, "count": count}).scalars())
        if dialect == "sqlite":
            # The transaction holds SQLite's write lock: nobody else takes these ids.
            start = (self.session.execute(select(func.max(table.c.id))).scalar() or 0) + 1
            return list(range(start, start + count))
        raise RuntimeError(f"no way to allocate ids on {dialect}")

    def _place_users(self, batch: list) -> list:
        """Keep users whose e-mail is free; map those already in this
        organisation; skip (and report) those of another organisation."""
        users = Base.metadata.tables["users"]
        emails = [values["email"] for _, values, _ in batch]
        existing = dict(self.session.execute(
            select(users.c.email, users.c.id).where(users.c.email.in_(emails))).all())
        owners = dict(self.session.execute(
            select(users.c.email, users.c.organization_id).where(users.c.email.in_(emails))).all())
        kept = []
        for old_id, values, deferred in batch:
            email = values["email"]
            if email not in existing:
                kept.append((old_id, values, deferred))
            elif owners[email] == self.org.id:
                self.maps["users"][old_id] = existing[email]
                self.report.users_matched.append(email)
                self.report.users_without_password -= 1
            else:
                self.report.users_skipped.append(email)
                self.report.users_without_password -= 1
                self.report.skipped["users"] += 1
        return kept

    def _fix_deferred(self) -> None:
        for (table_name, column), items in self.deferred.items():
            table = Base.metadata.tables[table_name]
            params = []
            for new_id, target, old in items:
                value = self._resolve(target, old) if target is not None else None
                if value is None:
                    self.report.references_cleared += 1
                params.append({"row_id": new_id, "value": value})
            for start in range(0, len(params), BATCH):
                self.session.connection().execute(
                    _restore_update(table).values({column: bindparam("value")}), params[start:start + BATCH])

    def _rekey_suppressions(self) -> None:
        suppressions, leads = Base.metadata.tables["suppressions"], Base.metadata.tables["leads"]
        rows = self.session.execute(
            select(suppressions.c.id, leads.c.phone)
            .select_from(suppressions.outerjoin(leads, leads.c.id == suppressions.c.lead_id))
            .where(suppressions.c.organization_id == self.org.id)).all()
        params = [{"row_id": sid, "value": number_hash(self.hash_key, SUPPRESS, self.org.id, phone)}
                  for sid, phone in rows if phone]
        if params:
            self.session.connection().execute(
                _restore_update(suppressions).values(number_hash=bindparam("value")), params)
            self.report.rekeyed["suppressions"] += len(params)
        stale = [sid for sid, phone in rows if not phone]
        for start in range(0, len(stale), BATCH):
            self.session.execute(delete(suppressions).where(suppressions.c.id.in_(stale[start:start + BATCH])))
        if stale:
            self.report.hashes_dropped["suppressions"] += len(stale)
            self.report.imported["suppressions"] -= len(stale)

    def _restore_organization(self) -> None:
        rows = list(self._rows("organizations"))
        if not rows:
            return
        exported = rows[0]
        settings = dict(exported.get("settings") or {})
        users, devices = self.maps.get("users", {}), self.maps.get("devices", {})
        if settings.get("tracking_numbers"):
            settings["tracking_numbers"] = [
                {**t, "owner_id": users.get(t["owner_id"])} if t.get("owner_id") else t
                for t in settings["tracking_numbers"]]
        if settings.get("campaign_devices"):
            settings["campaign_devices"] = {str(devices[int(k)]): v for k, v in settings["campaign_devices"].items()
                                            if k.isdigit() and int(k) in devices}
        self.org.name = exported.get("name") or self.org.name
        self.org.region = exported.get("region") or self.org.region
        self.org.plan = exported.get("plan") or self.org.plan
        trial_ends = exported.get("trial_ends_at")
        self.org.trial_ends_at = _decoder(Organization.__table__.c.trial_ends_at)(trial_ends) if trial_ends else None
        self.org.settings = settings


def _restore_update(table):
    """UPDATE one restored row by id, leaving its `onupdate` columns (updated_at) as exported."""
    keep = {c.name: c for c in table.columns if c.onupdate is not None}
    return update(table).where(table.c.id == bindparam("row_id")).values(keep)


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
        if session.get_bind().dialect.name == "postgresql":
            # An explicit id does not move the sequence: move it past every id.
            session.execute(text("SELECT setval(pg_get_serial_sequence('organizations', 'id'), "
                                 "(SELECT MAX(id) FROM organizations))"))
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
        report = _Importer(session, zf, manifest, org, hash_key=hash_key, now=now, rekey=rekey,
                           progress=progress).run(tables)
        for name in manifest["tables"]:
            if name not in current:
                report.notes.append(f"table {name} is unknown to this version and was not imported")
        if report.imported.get("devices") or report.not_restored.get("access_tokens"):
            report.notes.append("Phones must register again (POST /api/v1/devices); people sign in again.")
        if progress is not None:
            progress(manifest.get("total_rows") or 0, manifest.get("total_rows") or 0)
        return report


def _first_row(zf: zipfile.ZipFile, table_name: str):
    try:
        with zf.open(f"jsonl/{table_name}.jsonl") as entry:
            line = entry.readline()
    except KeyError:
        return []
    return [json.loads(line)] if line.strip() else []


def _check_deferrable() -> None:
    for (table_name, column_name), ref in SOFT_REFS.items():
        table = Base.metadata.tables.get(table_name)
        if table is not None and not ref.orders and not table.c[column_name].nullable:
            raise RuntimeError(f"{table_name}.{column_name} is set after its rows are in, so it must be nullable")


_check_deferrable()
