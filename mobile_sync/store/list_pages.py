"""The statements of a list page (leads, contacts) that every request sends,
built once per shape and run with its values: a list newest first, a text
search's page in the default order and newest first, the records a number
search finds, and the numbers of a page's records.

Building a statement costs more than running it here: a search for a name
no one has took ~2.5 ms of Python in SQLAlchemy's statement building and
caching for three index probes that return nothing. Each statement is made
once per database, model and shape (which list conditions it has, whether a
number's records come first) and kept; a request only passes its values.
The rows are named tuples of the table's columns (and `arm`), not ORM
objects, read on the session's connection (`driver_rows`: straight from
psycopg on PostgreSQL). Every statement names its organisation.
"""
from __future__ import annotations

from collections import namedtuple

from sqlalchemy import Integer, and_, bindparam, func, literal, or_, select, union, union_all

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import on_postgresql, per_engine
from mobile_sync.store.list_order import apart_condition
from mobile_sync.store.models import RecordPhone
from mobile_sync.store.text_prefix import ascending, in_range, unindexed

_PHONES = RecordPhone.__table__


class _Built:
    """The statements made so far on one engine (`per_engine`), and up to how
    many matches a prefix newest first is read from its index (`narrow_cap`)."""

    # A prefix with m matches among n records costs m index entries counted,
    # then read and sorted (its prefix index holds created_at: no row is read
    # but the page's), or, with the cap's m or more, the cap's entries counted
    # and a walk of (organisation, created_at, id) of about page * n / m rows,
    # testing each. The worst prefix is one just past the cap. At 1M contacts
    # on PostgreSQL a walked row costs 0.6-1.3 us (its row fetched, lower() of
    # each column tested) against ~0.25 us an index entry: with a cap of 5,000
    # a first name and a surname's initial shared by three surnames ("Ravi S",
    # ~5,600 matches) walked ~10,000 rows (5.6-15 ms, best of 9-15 runs at
    # load 6-9), the tail of newest first; at 10,000 the worst walk is ~5,000
    # rows and the worst read two scans of 10,000 entries. SQLite's cap too.
    narrow_cap = 10_000

    def __init__(self):
        self.statements: dict = {}


_built = per_engine(_Built)


def narrow_cap(session) -> int:
    """Up to how many matches a prefix newest first is read from its index
    on this database (`newest_by_prefix`); a prefix with as many is walked
    (`walk_matching`)."""
    return _built(session).narrow_cap


def _cached(session, key: tuple, build):
    """The statement of `key` on this engine: made by `build()` the first time, then kept."""
    statements = _built(session).statements
    made = statements.get(key)
    if made is None:
        made = statements[key] = build()
    return made


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
    conditions = _conditions(table, equal)
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


def _values(equal) -> dict:
    return {f"eq_{index}": value for index, (_, value) in enumerate(equal)}


def prefix_page(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                bounds: dict[str, tuple[str, str]], count: int, ids: list[int]) -> list:
    """Rows of `model` (leads or contacts) meeting `equal` ((column, value)
    pairs, the organisation's among them) and found by a text search: the
    records of `ids` (arm 0), then for each of `columns` the first `count`
    whose lower(column) lies in its `bounds` (low, high), in that order
    (arm 1, 2, ...). Each row holds the table's columns and `arm`."""
    names = _scoped(equal)
    statement, row = _cached(session, ("page", model, columns, names, bool(ids)),
                             lambda: _with_rows(_page_statement(session, model, columns, names, bool(ids))))
    params = _params(equal, columns, bounds, count=count)
    if ids:
        params["ids"] = list(ids)
    return [row(*values) for values in driver_rows(session.connection(), statement, params)]


def newest_page(session, model, *, equal: tuple[tuple[str, object], ...], offset: int, limit: int) -> list:
    """Rows `offset` to `offset + limit` of `model` (leads or contacts)
    meeting `equal` ((column, value) pairs, the organisation's among them),
    newest first (ties by id): the walk of (organisation, created_at, id)."""
    names = _scoped(equal)

    def build():
        table = model.__table__
        return _with_rows(select(*table.c).where(*_conditions(table, names))
                          .order_by(table.c.created_at.desc(), table.c.id.desc())
                          .limit(bindparam("limit")).offset(bindparam("offset")))

    statement, row = _cached(session, ("newest", model, names), build)
    return [row(*values) for values in driver_rows(session.connection(), statement,
                                                   {**_values(equal), "limit": limit, "offset": offset})]


def _conditions(table, names: tuple[str, ...]) -> list:
    return [table.c[name] == bindparam(f"eq_{index}") for index, name in enumerate(names)]


def _in_prefix(session, table, column: str, indexed: bool = True):
    lowered = func.lower(table.c[column])
    return in_range(session, lowered if indexed else unindexed(lowered), bindparam(f"low_{column}"),
                    bindparam(f"high_{column}"))


def _params(equal, columns, bounds: dict, **more) -> dict:
    params = _values(equal)
    for column in columns:
        params[f"low_{column}"], params[f"high_{column}"] = bounds[column]
    params.update(more)
    return params


def prefix_counts(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                  bounds: dict[str, tuple[str, str]], cap: int) -> dict[str, int]:
    """For each of `columns`, how many rows of `model` meeting `equal` have
    lower(column) in its `bounds`, counted up to `cap` in the column's
    prefix index alone: one statement."""
    names = _scoped(equal)

    def build():
        table = model.__table__
        conditions = _conditions(table, names)
        return select(*(
            select(func.count()).select_from(select(table.c.id).where(*conditions, _in_prefix(session, table, column))
                                              .limit(bindparam("cap")).subquery()).scalar_subquery().label(column)
            for column in columns))

    statement = _cached(session, ("counts", model, columns, names), build)
    row = session.connection().execute(statement, _params(equal, columns, bounds, cap=cap)).one()
    return dict(zip(columns, row))


def newest_by_prefix(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                     bounds: dict[str, tuple[str, str]], cap: int, count: int) -> list:
    """For each of `columns`, of the first `cap` rows of `model` meeting
    `equal` whose lower(column) lies in its `bounds`, the `count` newest
    (ties by id). Each prefix's matches are read and sorted in its index
    alone (it holds created_at; on PostgreSQL the column too), then the
    rows of the page by id. One statement; each row holds the table's
    columns and `arm` (1 + the column's place in `columns`). A prefix with
    `cap` matches or more (prefix_counts) is not read here but walked."""
    names = _scoped(equal)

    def build():
        table = model.__table__
        conditions = _conditions(table, names)
        arms = []
        for arm, column in enumerate(columns, 1):
            matches = (select(table.c.id, table.c.created_at).where(*conditions, _in_prefix(session, table, column))
                       .limit(bindparam("cap")).subquery(f"matches_{column}"))
            newest = (select(matches.c.id).order_by(matches.c.created_at.desc(), matches.c.id.desc())
                      .limit(bindparam("count")).subquery())
            arms.append(select(literal(arm, Integer).label("arm"), newest.c.id))
        found = union_all(*arms).subquery("found")
        return _with_rows(select(*table.c, found.c.arm).join(found, table.c.id == found.c.id))

    statement, row = _cached(session, ("newest_by_prefix", model, columns, names), build)
    return [row(*values) for values in driver_rows(session.connection(), statement, _params(
        equal, columns, bounds, cap=cap, count=count), prepare=False)]


def _with_rows(statement) -> tuple:
    """`statement` and a named tuple of its columns, for its rows read by `driver_rows`."""
    return statement, namedtuple("Row", [column.key for column in statement.selected_columns])


def walk_matching(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                  bounds: dict[str, tuple[str, str]], count: int) -> list:
    """The first `count` rows of `model` meeting `equal`, newest first, whose
    lower(column) lies in its `bounds` for one of `columns` (prefixes too
    broad to read in their index): a walk of (organisation, created_at, id)
    testing each row, which stops after the page. Planned for its values
    each time (a generic plan on PostgreSQL walked the index in parallel
    workers that took 20-40 ms to start)."""
    names = _scoped(equal)

    def build():
        table = model.__table__
        return _with_rows(
            select(*table.c).where(*_conditions(table, names),
                                   or_(*(_in_prefix(session, table, column, indexed=False) for column in columns)))
            .order_by(table.c.created_at.desc(), table.c.id.desc()).limit(bindparam("count")))

    statement, row = _cached(session, ("walk_matching", model, columns, names), build)
    return [row(*values) for values in driver_rows(session.connection(), statement, _params(
        equal, columns, bounds, count=count), prepare=False)]


def number_ids(session, organization_id: int, record_type: str, *, e164: str | None,
               tails: tuple[tuple[str, list[str]], ...], limit: int) -> list[int]:
    """Ids of the organisation's `record_type` records with a number that is
    `e164` (None: not asked), or that ends in a tail of `tails` ((its digits,
    the suffix keys such a number can have)): a UNION of one probe per form,
    each on its own index of the phone index, at most `limit` ids. Built once
    per shape (whether an E.164 form is asked, how many tails)."""
    pg = on_postgresql(session)

    def build():
        forms = [_PHONES.c.e164 == bindparam("e164")] if e164 is not None else []
        for index in range(len(tails)):
            forms.append(and_(one_of(_PHONES.c.suffix, f"keys_{index}", pg),
                              _PHONES.c.e164.endswith(bindparam(f"tail_{index}"))))
        # The record type is tested on the numbers found: as an index condition,
        # SQLite without statistics read the organisation's every number of that
        # type through the unique index (organisation, record type, ...) instead.
        probes = [select(_PHONES.c.record_id).where(_PHONES.c.organization_id == bindparam("org"), form,
                                                    unindexed(_PHONES.c.record_type) == bindparam("type"))
                  for form in forms]
        return (probes[0].distinct() if len(probes) == 1 else union(*probes)).limit(bindparam("limit"))

    if e164 is None and not tails:
        return []
    statement = _cached(session, ("number_ids", e164 is not None, len(tails)), build)
    params = {"org": organization_id, "type": record_type, "limit": limit}
    if e164 is not None:
        params["e164"] = e164
    for index, (tail, keys) in enumerate(tails):
        params[f"tail_{index}"], params[f"keys_{index}"] = tail, list(keys)
    return [record_id for record_id, in driver_rows(session.connection(), statement, params)]


def page_numbers(session, organization_id: int, record_type: str, record_ids: list[int]) -> dict[int, list[str]]:
    """Each record's numbers (E.164, in the order they were added), for a
    page of `record_type` records of the organisation."""
    out: dict[int, list[str]] = {record_id: [] for record_id in record_ids}
    if not record_ids:
        return out
    statement = _cached(session, ("numbers",), lambda: (
        select(_PHONES.c.record_id, _PHONES.c.e164)
        .where(_PHONES.c.organization_id == bindparam("org"), _PHONES.c.record_type == bindparam("type"),
               one_of(_PHONES.c.record_id, "ids", on_postgresql(session)))
        .order_by(_PHONES.c.id)))
    for record_id, e164 in driver_rows(session.connection(), statement,
                                       {"org": organization_id, "type": record_type, "ids": list(record_ids)}):
        out[record_id].append(e164)
    return out
