"""The statements of a list page (leads, contacts) that every request sends,
built once per shape and run with its values: a list newest first, a text
search's page in the default order, and the numbers of a page's records.

Building a statement costs more than running it here: a search for a name
no one has took ~2.5 ms of Python in SQLAlchemy's statement building and
caching for three index probes that return nothing. Each statement is made
once per database, model and shape (which list conditions it has, whether a
number's records come first) and kept; a request only passes its values.
The rows are the table's columns (and `arm`), not ORM objects, read on the
session's connection. Every statement names its organisation.
"""
from __future__ import annotations

from sqlalchemy import Integer, and_, bindparam, func, literal, select, union_all

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import on_postgresql, per_engine
from mobile_sync.store.list_order import apart_condition
from mobile_sync.store.models import RecordPhone
from mobile_sync.store.text_prefix import ascending, in_range

_PHONES = RecordPhone.__table__


class _Built:
    """The statements made so far on one engine (`per_engine`)."""

    def __init__(self):
        self.pages: dict = {}
        self.numbers = None


_built = per_engine(_Built)


def _scoped(equal: tuple[tuple[str, object], ...]) -> tuple[str, ...]:
    """The columns of `equal`; refused unless the organisation is one of them."""
    names = tuple(name for name, _ in equal)
    if "organization_id" not in names:
        raise ValueError("a list page is read within one organisation")
    return names


def _page_statement(session, model, columns: tuple[str, ...], equal: tuple[str, ...], with_ids: bool):
    """UNION ALL of the arms, each `limit :count` ids read from its index in
    its order: the number's records (`:ids`, all of them: a few, sorted by
    the caller), then one per text column (`:low_<column>` <= lower(column)
    < `:high_<column>`); joined back to the rows, each with its `arm`."""
    table = model.__table__
    conditions = [table.c[name] == bindparam(f"eq_{index}") for index, name in enumerate(equal)]
    arms = []
    if with_ids:
        # The records found by number: read by id, the list's conditions tested on those rows only.
        arms.append(select(literal(0, Integer).label("arm"), table.c.id)
                    .where(one_of(table.c.id, "ids", on_postgresql(session)),
                           apart_condition(session, and_(*conditions))))
    for arm, column in enumerate(columns, 1):
        lowered = func.lower(table.c[column])
        branch = (select(table.c.id).where(*conditions, in_range(session, lowered, bindparam(f"low_{column}"),
                                                                 bindparam(f"high_{column}")))
                  .order_by(ascending(session, lowered), table.c.id).limit(bindparam("count")).subquery())
        arms.append(select(literal(arm, Integer).label("arm"), branch.c.id))
    found = union_all(*arms).subquery("found")
    return select(*table.c, found.c.arm).join(found, table.c.id == found.c.id)


def prefix_page(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                bounds: dict[str, tuple[str, str]], count: int, ids: list[int]) -> list:
    """Rows of `model` (leads or contacts) meeting `equal` ((column, value)
    pairs, the organisation's among them) and found by a text search: the
    records of `ids` (arm 0), then for each of `columns` the first `count`
    whose lower(column) lies in its `bounds` (low, high), in that order
    (arm 1, 2, ...). Each row holds the table's columns and `arm`."""
    names = _scoped(equal)
    key = (model, columns, names, bool(ids))
    built = _built(session).pages
    statement = built.get(key)
    if statement is None:
        statement = built[key] = _page_statement(session, model, columns, names, bool(ids))
    params = {f"eq_{index}": value for index, (_, value) in enumerate(equal)}
    params["count"] = count
    if ids:
        params["ids"] = list(ids)
    for column in columns:
        params[f"low_{column}"], params[f"high_{column}"] = bounds[column]
    return session.connection().execute(statement, params).all()


def newest_page(session, model, *, equal: tuple[tuple[str, object], ...], offset: int, limit: int) -> list:
    """Rows `offset` to `offset + limit` of `model` (leads or contacts)
    meeting `equal` ((column, value) pairs, the organisation's among them),
    newest first (ties by id): the walk of (organisation, created_at, id)."""
    names = _scoped(equal)
    key = ("newest", model, names)
    built = _built(session).pages
    statement = built.get(key)
    if statement is None:
        table = model.__table__
        statement = built[key] = (
            select(*table.c).where(*(table.c[name] == bindparam(f"eq_{index}") for index, name in enumerate(names)))
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(bindparam("limit")).offset(bindparam("offset")))
    params = {f"eq_{index}": value for index, (_, value) in enumerate(equal)}
    params.update(limit=limit, offset=offset)
    return session.connection().execute(statement, params).all()


def page_numbers(session, organization_id: int, record_type: str, record_ids: list[int]) -> dict[int, list[str]]:
    """Each record's numbers (E.164, in the order they were added), for a
    page of `record_type` records of the organisation."""
    out: dict[int, list[str]] = {record_id: [] for record_id in record_ids}
    if not record_ids:
        return out
    built = _built(session)
    if built.numbers is None:
        built.numbers = (select(_PHONES.c.record_id, _PHONES.c.e164)
                         .where(_PHONES.c.organization_id == bindparam("org"),
                                _PHONES.c.record_type == bindparam("type"),
                                one_of(_PHONES.c.record_id, "ids", on_postgresql(session)))
                         .order_by(_PHONES.c.id))
    for record_id, e164 in driver_rows(session.connection(), built.numbers,
                                       {"org": organization_id, "type": record_type, "ids": list(record_ids)}):
        out[record_id].append(e164)
    return out
