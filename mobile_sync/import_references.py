"""Which integer columns of an export point at which rows, and the order in
which `mobile_sync.import_data` restores tables because of them.

Foreign keys say it for themselves; SOFT_REFS declares the references
without one, NOT_REFERENCES the `*_id` columns that are not references."""
from __future__ import annotations

from dataclasses import dataclass

from mobile_sync.export_data import exported_tables
from mobile_sync.store.models.base import Base

RECORD_TYPES = {"contact": "contacts", "lead": "leads", "user": "users"}
AUDIT_OBJECT_TYPES = {**RECORD_TYPES, "task": "tasks", "note": "notes", "call": "calls", "device": "devices",
                      "api_key": "api_keys", "invite": "invites", "organization": "organizations"}


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
    ("crm_pushes", "subject_id"): SoftRef(type_column="subject_type", types={"call": "calls", "lead": "leads"}),
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


def _check_deferrable() -> None:
    for (table_name, column_name), ref in SOFT_REFS.items():
        table = Base.metadata.tables.get(table_name)
        if table is not None and not ref.orders and not table.c[column_name].nullable:
            raise RuntimeError(f"{table_name}.{column_name} is set after its rows are in, so it must be nullable")


_check_deferrable()
