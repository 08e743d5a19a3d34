"""A page of leads or contacts in the order a list asks for, found by the
search box (`q`, mobile_sync.record_search), reading a bounded number of rows
however many records match.

The orders (`sort`):
- "created": newest first; "last_call": latest call first, the records never
  called last; "name": A to Z. Ties go by id, so pages never overlap.
- none: newest first for a list or a number; for a text query, the order of
  the text it matched, A to Z (the name for a name match, the company for a
  company match, the e-mail address for an e-mail match), the records whose
  number it is first. This is what the prefix indexes hold, so a broad prefix
  ("Deepa": one contact in 26) costs one page of each index.

A search is read branch by branch (its number from the phone index; its text
as a name, a company, an e-mail prefix): the first `offset + limit` rows of
each branch in the list's order, merged here. A branch whose index holds that
order reads just those rows. Any other branch is first counted up to
MAX_MATCHED_RECORDS through its own index: fewer, and those are sorted; as
many, and it is a broad one, so the list walks the index of its order
(ix_*_org_created, ix_*_org_last_call, the name prefix index) testing each
row, which stops after the page: about `page × records / matches` rows.
Newest first, the text branches are counted up to a cap in their prefix
indexes, which hold created_at: the narrow ones are read and sorted there,
the broad ones walked (`_newest_matching`, mobile_sync.store.list_pages).

A list that gives its conditions as `equal` ((column, value) pairs) reads
the default order's search, newest first's, and the list without a search
through statements built once per shape (mobile_sync.store.list_pages), as
rows; the other orders build theirs per request, as before.
"""
from __future__ import annotations

from sqlalchemy import Integer, func, literal, select, union_all

from mobile_sync.record_search import (
    MAX_MATCHED_RECORDS, TEXT_COLUMNS, number_matches, read_query, text_condition,
)
from mobile_sync.store.list_order import apart, apart_condition, latest_call_in_one_pass
from mobile_sync.store.list_pages import (
    narrow_cap, newest_by_prefix, newest_page, prefix_counts, prefix_page, walk_matching,
)
from mobile_sync.store.text_prefix import ascending, folding, prefix_bounds

DEFAULT_SORT = "created"
_ROWS = "record_rows"  # the execution option that marks a query of rows (record_rows)
_DESCENDING = {"created": True, "last_call": True, "name": False}


def record_rows(model, equal: tuple[tuple[str, object], ...]):
    """select() of `model`'s columns where each (column, value) of `equal`
    holds, for `record_page` (with the same `equal`): a page read as rows
    (attribute access by column name), not ORM objects, which cost more to
    load than a page's statements take to run."""
    if "organization_id" not in (name for name, _ in equal):
        raise ValueError("a list page is read within one organisation")
    table = model.__table__
    return select(*table.c).where(*(table.c[name] == value for name, value in equal)).execution_options(
        **{_ROWS: True})


def _objects(query) -> bool:
    """Whether `query` reads ORM objects (select(Lead)) rather than rows (record_rows)."""
    return not query.get_execution_options().get(_ROWS)


def _select(query, model, *extra):
    """select() of what `query` reads (objects or rows) of `model`, and `extra`."""
    if _objects(query):
        return select(model, *extra)
    return select(*model.__table__.c, *extra).execution_options(**{_ROWS: True})


def _rows(session, query) -> list:
    if _objects(query):
        return list(session.execute(query).scalars())
    return _connection_rows(session, query)


def _connection_rows(session, query) -> list:
    """The rows of a query of rows, run on the session's connection: its
    organisation is among its own conditions (`record_rows`), so the ORM's
    tenancy criteria are not added again. Added, that plain `organization_id = ?`
    let SQLite without statistics read a few rows found by id through an index
    starting with the organisation (all of its entries, testing each id)
    instead of by id, since contacts lost their index on the organisation
    alone (revision 2f4b6d8fa031)."""
    return session.connection().execute(query).all()


def ordered(session, query, model, sort: str | None, offset: int, limit: int, few: bool = False) -> list:
    """Rows `offset` to `offset + limit` of `query` (leads or contacts, not yet
    ordered) in the order `sort` names (newest first by default), each order
    read from its index; `few`: the query names a few rows by id, sorted
    apart from those indexes (mobile_sync.store.list_order)."""
    sort = sort or DEFAULT_SORT
    if sort != "last_call":
        return _rows(session, query.order_by(*_in_order(session, model, None, sort, few)).offset(offset).limit(limit))
    # Latest call first, then the records never called (mobile_sync.store.list_order).
    term = (lambda column: apart(session, column)) if few else (lambda column: column)
    by_call = (term(model.last_call_at).desc(), term(model.id).desc())
    if latest_call_in_one_pass(session):
        return _rows(session, query.order_by(*by_call).offset(offset).limit(limit))
    called = query.where(model.last_call_at.is_not(None)).order_by(*by_call)
    rows = _rows(session, called.offset(offset).limit(limit))
    if len(rows) == limit:
        return rows
    before = offset + len(rows)
    if not rows and offset:
        before = session.execute(select(func.count()).select_from(
            called.with_only_columns(model.id).order_by(None).limit(offset).subquery())).scalar_one()
    never = query.where(model.last_call_at.is_(None)).order_by(*by_call)
    return rows + _rows(session, never.offset(max(0, offset - before)).limit(limit - len(rows)))


def _by_id(session, query, model, ids):
    """`query`'s rows among `ids` (a list, or a select of ids), read by id: the
    list's own conditions tested on those rows only (mobile_sync.store.list_order)."""
    found = _select(query, model).where(model.id.in_(ids))
    return found if query.whereclause is None else found.where(apart_condition(session, query.whereclause))


def _sort_key(session, sort: str):
    if sort == "created":
        return lambda row: (row.created_at, row.id)
    if sort == "last_call":
        return lambda row: (1, row.last_call_at, row.id) if row.last_call_at is not None else (0, row.id)
    fold = folding(session)
    return lambda row: (fold(row.name), row.id)


def _in_order(session, model, column: str | None, sort: str | None, few: bool = False) -> tuple:
    """ORDER BY of a branch read from its index: by `column` (its text) or by
    `sort` (created or name); `few`: of rows found by id, sorted apart."""
    if column is not None:
        return ascending(session, func.lower(getattr(model, column))), model.id
    term = (lambda column: apart(session, column)) if few else (lambda column: column)
    if (sort or DEFAULT_SORT) == "created":
        return term(model.created_at).desc(), term(model.id).desc()
    return ascending(session, term(func.lower(model.name))), term(model.id)


def _arms(session, query, model, arms: list) -> list[tuple[int, object]]:
    """(arm, row) of the ids each arm (a select of `model.id`, ordered and
    limited) reads, in one statement: a UNION ALL, then the rows by id (as
    `query` reads them: objects, or rows that also hold `arm`)."""
    found = union_all(*(select(literal(index, Integer).label("arm"), sub.c.id)
                        for index, sub in ((i, arm.subquery()) for i, arm in enumerate(arms)))).subquery("found")
    statement = _select(query, model, found.c.arm).join(found, model.id == found.c.id)
    if _objects(query):
        return [(arm, row) for row, arm in session.execute(statement)]
    return [(row.arm, row) for row in _connection_rows(session, statement)]


def _text_branch(session, query, model, organization_id: int, column: str, text: str, sort: str,
                 count: int) -> list:
    """The first `count` rows of `query` whose `column` starts with `text`, in
    the order of `sort`, when the column's index does not hold that order."""
    condition = text_condition(session, model, organization_id, column, text)
    matching = query.where(condition).with_only_columns(model.id).limit(MAX_MATCHED_RECORDS)
    found = session.execute(select(func.count()).select_from(matching.subquery())).scalar_one()
    if not found:
        return []
    if found < MAX_MATCHED_RECORDS:
        return ordered(session, _by_id(session, query, model, matching), model, sort, 0, count, few=True)
    broad = text_condition(session, model, organization_id, column, text, indexed=False)
    return ordered(session, query.where(broad), model, sort, 0, count)


def record_page(session, query, model, record_type: str, organization_id: int, *, q: str | None,
                region: str | None, sort: str | None, offset: int, limit: int,
                equal: tuple[tuple[str, object], ...] | None = None) -> list:
    """Rows `offset` to `offset + limit` of `query` (select(Lead) or
    select(Contact), or `record_rows`, with the list's filters, not yet
    ordered) that `q` finds, in the order of `sort` (see the module's
    docstring). `equal`: `query`'s conditions as (column, value) pairs when
    each is `column = value` and `query` reads rows: a text search in the
    default order then reads its page through one statement built once
    (mobile_sync.store.list_pages)."""
    terms = read_query(q or "", region)
    if not terms.text:
        if equal is not None and (sort or DEFAULT_SORT) == "created":
            return newest_page(session, model, equal=equal, offset=offset, limit=limit)
        return ordered(session, query, model, sort, offset, limit)
    count = offset + limit
    ids = number_matches(session, organization_id, terms, record_type)
    read = None
    if equal is not None and sort is None:
        read = _prefix_page(session, model, equal, terms.text, count, ids)
    elif equal is not None and sort == "created":
        read = _newest_matching(session, model, equal, terms.text, count)
        if read is not None and ids:
            read += [(None, row) for row in ordered(session, _by_id(session, query, model, ids), model, sort, 0,
                                                    count, few=True)]
    if read is None:
        read = _branches(session, query, model, organization_id, terms.text, sort, count, ids)
    return _merged(session, read, sort)[offset:count]


def _prefix_page(session, model, equal, text: str, count: int, ids: list[int]) -> list | None:
    """(column matched, row) of the default order's branches, from
    list_pages.prefix_page; None when the prefix has no upper bound."""
    low, high = prefix_bounds(session, text)
    if high is None:
        return None
    rows = prefix_page(session, model, equal=equal, columns=TEXT_COLUMNS, count=count, ids=ids,
                       bounds=dict.fromkeys(TEXT_COLUMNS, (low, high)))
    return [(TEXT_COLUMNS[row.arm - 1] if row.arm else None, row) for row in rows]


def _newest_matching(session, model, equal, text: str, count: int) -> list | None:
    """(None, row) of the text branches newest first: each prefix counted up
    to a cap in its index (list_pages.narrow_cap); those with fewer matches
    read and sorted in their indexes alone, with the rows of the page (one
    statement); those with as many by the walk newest first (another). None
    when the prefix has no upper bound."""
    low, high = prefix_bounds(session, text)
    if high is None:
        return None
    bounds = dict.fromkeys(TEXT_COLUMNS, (low, high))
    cap = narrow_cap(session)
    counts = prefix_counts(session, model, equal=equal, columns=TEXT_COLUMNS, bounds=bounds, cap=cap)
    narrow = tuple(column for column in TEXT_COLUMNS if 0 < counts[column] < cap)
    broad = tuple(column for column in TEXT_COLUMNS if counts[column] >= cap)
    read = []
    if narrow:
        read += [(None, row) for row in newest_by_prefix(session, model, equal=equal, columns=narrow, bounds=bounds,
                                                         cap=cap, count=count)]
    if broad:
        read += [(None, row) for row in walk_matching(session, model, equal=equal, columns=broad, bounds=bounds,
                                                      count=count)]
    return read


def _branches(session, query, model, organization_id: int, text: str, sort: str | None, count: int,
              ids: list[int]) -> list:
    """(column matched, or None for the number's records; row) of each
    branch's first `count` rows in the order of `sort`."""
    # Branches read in one statement, each from an index in its order: the
    # number's records (a few), and the text prefixes whose index holds the order.
    arms, columns, others = [], [], []
    if ids and sort != "last_call":
        arms.append(_by_id(session, query, model, ids).with_only_columns(model.id))  # all: sorted here
        columns.append(None)
    for column in TEXT_COLUMNS:
        if sort is None or (sort == "name" and column == "name"):
            condition = text_condition(session, model, organization_id, column, text)
            arms.append(query.where(condition).with_only_columns(model.id)
                        .order_by(*_in_order(session, model, column, sort)).limit(count))
            columns.append(column)
        else:
            others.append(column)
    read = [(columns[arm], row) for arm, row in _arms(session, query, model, arms)] if arms else []
    if ids and sort == "last_call":
        read += [(None, row) for row in ordered(session, _by_id(session, query, model, ids), model, sort, 0, count,
                                                few=True)]
    for column in others:
        read += [(column, row) for row in _text_branch(session, query, model, organization_id, column, text,
                                                        sort, count)]
    return read


def _merged(session, read: list, sort: str | None) -> list:
    """The rows of `read` ((column matched, row) of every branch) once each, in the list's order."""
    if sort:
        by_sort = _sort_key(session, sort)
        keys = {row.id: by_sort(row) for _, row in read}
    else:
        # The number's records first, newest first; then by the text matched.
        keys, fold = {}, folding(session)
        numbered = sorted((row for column, row in read if column is None), key=lambda row: (row.created_at, row.id),
                          reverse=True)
        for position, row in enumerate(numbered):
            keys.setdefault(row.id, (0, position))
        for column, row in read:
            if column is not None:
                key = (1, fold(getattr(row, column)), row.id)
                keys[row.id] = min(keys.get(row.id, key), key)
    rows = {row.id: row for _, row in read}
    return sorted(rows.values(), key=lambda row: keys[row.id], reverse=_DESCENDING.get(sort, False))
