"""Writing an export's rows into the target organisation, for
`mobile_sync.import_data`: new ids, references followed to them, secrets
withheld, keyed hashes recomputed or left out, and the report of what was done."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Callable

from sqlalchemy import bindparam, delete, insert, select, update

from mobile_sync.export_data import SECRET_COLUMNS
from mobile_sync.import_references import SOFT_REFS, import_order
from mobile_sync.lead_rules import SUPPRESS
from mobile_sync.number_hash import PHONEBOOK, number_hash
from mobile_sync.tokens import new_token
from mobile_sync.store.id_reservation import reserve_ids
from mobile_sync.store.models import Organization
from mobile_sync.store.models.base import Base

# Not an argon2 hash: `verify_password` never accepts anything against it.
PASSWORD_NOT_SET = "!imported:no-password"
# Their credentials are never exported (export_data.SECRET_COLUMNS, SEALED_SECRETS):
# a webhook or CRM connection is set up again by an admin, with its history.
NOT_RESTORED = ("access_tokens", "webhook_endpoints", "webhook_deliveries", "crm_connections", "crm_pushes",
                "crm_person_links")
BATCH = 1000
Progress = Callable[[int, int], None]


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


class Importer:
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
                # once every row is in. Such columns are nullable (checked in import_references).
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
        return reserve_ids(self.session, table, count)

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
