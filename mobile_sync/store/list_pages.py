"""The statements of a list page (leads, contacts) that every request sends,
built once per shape and run with its values: a list newest first, a text
search's page in the default order and newest first, and the numbers of a
page's records.

Building a statement costs more than running it here: a search for a name
no one has took ~2.5 ms of Python in SQLAlchemy's statement building and
caching for three index probes that return nothing. Each statement is made
once per database, model and shape (which list conditions it has, whether a
number's records come first) and kept; a request only passes its values.
The rows are the table's columns (and `arm`), not ORM objects, read on the
session's connection. Every statement names its organisation.
"""
from __future__ import annotations

from collections import namedtuple

from sqlalchemy import Integer, and_, bindparam, func, literal, or_, select, union_all

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import on_postgresql, per_engine
from mobile_sync.store.list_order import apart_condition
from mobile_sync.store.models import RecordPhone
from mobile_sync.store.text_prefix import ascending, in_range, unindexed

_PHONES = RecordPhone.__table__


class _Built:
    """The statements made so far on one engine (`per_engine`), and how a
    search newest first reads there. SQLite counts a prefix's matches in its
    expression index alone (10,000 in ~1 ms), so it counts first: a prefix
    with fewer matches is read by id, one with more by the walk, which stops
    after the page."""

    # Up to how many matches a prefix's rows are read by id and sorted, newest
    # first, rather than found by walking (organisation, created_at, id): a
    # prefix with m matches among n records costs m reads by id, or a walk of
    # about page * n / m rows. SQLite counts them in its index alone, and reads
    # a row by id about as fast as the walk reads one.
    narrow_cap = 10_000
    # Rows walked newest first before any prefix is counted (0: none): a
    # prefix one record in 40 has fills a page of 50 there.
    recent_window = 0
    walk_window = 0
    # Whether the prefixes are counted first, to read by id only the narrow ones.
    count_first = True

    def __init__(self):
        self.pages: dict = {}
        self.rows: dict = {}  # (statement, named tuple of its row), run by driver_rows
        self.numbers = None


class _PostgresBuilt(_Built):
    """PostgreSQL reads each match in the table, not in its expression index
    alone (1,000 in 11 ms at 1M contacts under EXPLAIN ANALYZE; a row by id
    costs ~14x a row of the walk, which follows the table's order). So it
    walks the newest rows first, where a broad prefix fills its page and the
    walk stops; else it reads each prefix's matches once, up to the cap,
    with the newest of them, and walks for the prefixes with more."""

    narrow_cap = 3_000
    recent_window = 2_000
    # The longest walk newest first taken on the strength of the window's
    # matches: ~10 ms, the cost of ~3,000 matches read by id.
    walk_window = 40_000
    count_first = False


_built = per_engine(_Built, _PostgresBuilt)


NewestFirst = namedtuple("NewestFirst", "window walk cap count_first")


def newest_first(session) -> NewestFirst:
    """How a text search newest first reads on this database: the rows
    walked first (`recent_window`) and at most after them (`walk_window`), up
    to how many matches a prefix is read by id (`narrow_cap`), and whether
    the prefixes are counted first (`count_first`)."""
    built = _built(session)
    return NewestFirst(built.recent_window, built.walk_window, built.narrow_cap, built.count_first)


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


def _conditions(session, table, names: tuple[str, ...]) -> list:
    return [table.c[name] == bindparam(f"eq_{index}") for index, name in enumerate(names)]


def _in_prefix(session, table, column: str, indexed: bool = True):
    lowered = func.lower(table.c[column])
    return in_range(session, lowered if indexed else unindexed(lowered), bindparam(f"low_{column}"),
                    bindparam(f"high_{column}"))


def _params(equal, columns, bounds: dict, **more) -> dict:
    params = {f"eq_{index}": value for index, (_, value) in enumerate(equal)}
    for column in columns:
        params[f"low_{column}"], params[f"high_{column}"] = bounds[column]
    params.update(more)
    return params


def prefix_counts(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                  bounds: dict[str, tuple[str, str]], cap: int) -> dict[str, int]:
    """For each of `columns`, how many rows of `model` meeting `equal` have
    lower(column) in its `bounds`, counted up to `cap` through the column's
    prefix index: one statement."""
    names = _scoped(equal)
    key = ("counts", model, columns, names)
    built = _built(session).pages
    statement = built.get(key)
    if statement is None:
        table = model.__table__
        conditions = _conditions(session, table, names)
        statement = built[key] = select(*(
            select(func.count()).select_from(select(table.c.id).where(*conditions, _in_prefix(session, table, column))
                                              .limit(bindparam("cap")).subquery()).scalar_subquery().label(column)
            for column in columns))
    row = session.connection().execute(statement, _params(equal, columns, bounds, cap=cap)).one()
    return dict(zip(columns, row))


def newest_by_prefix(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                     bounds: dict[str, tuple[str, str]], cap: int, count: int) -> list:
    """For each of `columns`, the first `cap` rows of `model` meeting `equal`
    whose lower(column) lies in its `bounds`, read through the column's prefix
    index (each match read once); of those, the `count` newest. One statement;
    each row holds the table's columns, `arm` (1 + the column's place in
    `columns`) and `matched`: how many of the column's rows were read, up to
    `cap` (when it is `cap`, there may be more, and that arm's rows are not
    the newest)."""
    names = _scoped(equal)
    key = ("newest_by_prefix", model, columns, names)
    built = _built(session).rows
    made = built.get(key)
    if made is None:
        table = model.__table__
        conditions = _conditions(session, table, names)
        arms = []
        for arm, column in enumerate(columns, 1):
            matches = (select(table.c.id, table.c.created_at).where(*conditions, _in_prefix(session, table, column))
                       .limit(bindparam("cap")).cte(f"matches_{column}").prefix_with("MATERIALIZED"))
            newest = (select(matches.c.id).order_by(matches.c.created_at.desc(), matches.c.id.desc())
                      .limit(bindparam("count")).subquery())
            matched = select(func.count()).select_from(matches).scalar_subquery()
            arms.append(select(literal(arm, Integer).label("arm"), newest.c.id, matched.label("matched")))
        found = union_all(*arms).subquery("found")
        made = built[key] = _with_rows(select(*table.c, found.c.arm, found.c.matched)
                                       .join(found, table.c.id == found.c.id))
    statement, row = made
    return [row(*values) for values in driver_rows(session.connection(), statement, _params(
        equal, columns, bounds, cap=cap, count=count), prepare=False)]


def recent_matching(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                    bounds: dict[str, tuple[str, str]], window: int, count: int) -> list:
    """Of the `window` newest rows of `model` meeting `equal`, the first
    `count`, newest first, whose lower(column) lies in its `bounds` for one
    of `columns`: a walk of (organisation, created_at, id) that reads at most
    `window` rows. Planned for its values each time (a generic plan on
    PostgreSQL walked the index in parallel workers that took 20-40 ms to start)."""
    names = _scoped(equal)
    key = ("recent_matching", model, columns, names)
    built = _built(session).rows
    made = built.get(key)
    if made is None:
        table = model.__table__
        recent = (select(*table.c).where(*_conditions(session, table, names))
                  .order_by(table.c.created_at.desc(), table.c.id.desc()).limit(bindparam("window")).subquery())
        # Tested on the window's rows (no index can read them): lower() as it is, not `unindexed`.
        matches = or_(*(in_range(session, func.lower(recent.c[column]), bindparam(f"low_{column}"),
                                 bindparam(f"high_{column}")) for column in columns))
        made = built[key] = _with_rows(select(*recent.c).where(matches)
                                       .order_by(recent.c.created_at.desc(), recent.c.id.desc())
                                       .limit(bindparam("count")))
    statement, row = made
    return [row(*values) for values in driver_rows(session.connection(), statement, _params(
        equal, columns, bounds, window=window, count=count), prepare=False)]


def _with_rows(statement) -> tuple:
    """`statement` and a named tuple of its columns, for its rows read by `driver_rows`."""
    return statement, namedtuple("Row", [column.key for column in statement.selected_columns])


def walk_matching(session, model, *, equal: tuple[tuple[str, object], ...], columns: tuple[str, ...],
                  bounds: dict[str, tuple[str, str]], count: int) -> list:
    """The first `count` rows of `model` meeting `equal`, newest first, whose
    lower(column) lies in its `bounds` for one of `columns` (prefixes too
    broad to read by id): a walk of (organisation, created_at, id) testing
    each row, which stops after the page."""
    names = _scoped(equal)
    key = ("walk_matching", model, columns, names)
    built = _built(session).rows
    made = built.get(key)
    if made is None:
        table = model.__table__
        made = built[key] = _with_rows(
            select(*table.c).where(*_conditions(session, table, names),
                                   or_(*(_in_prefix(session, table, column, indexed=False) for column in columns)))
            .order_by(table.c.created_at.desc(), table.c.id.desc()).limit(bindparam("count")))
    statement, row = made
    return [row(*values) for values in driver_rows(session.connection(), statement, _params(
        equal, columns, bounds, count=count), prepare=False)]


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
