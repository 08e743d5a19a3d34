"""One query box for leads, contacts and calls (`q`): a name, company or
e-mail prefix, or any form of a number — national, international, or its
last 6+ digits — and the orders a list may take (`sort`; a page in that
order: mobile_sync.record_pages).

Every condition is an index probe, and none is OR-ed with a subquery (a
planner then reads the organisation's every record and tests each row):
- a query that reads as a number is answered from the phone index first (the
  E.164 form exactly; trailing digits through the suffix key, the last 7
  digits of the national number, Android's min match), and the list then
  reads just those records by id; it is a text prefix too (a company named
  "3M", an e-mail address "9876543210@…");
- a text query is three prefix ranges (name, company, e-mail) on indexes of
  `lower(column)` (mobile_sync.store.text_prefix), each branch naming the
  organisation itself so that SQLite too reads them as a multi-index OR.
No `LIKE '%…'` ever scans an organisation's numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import and_, false, func, or_, select, true, union

from mobile_sync.phones import SUFFIX_DIGITS, normalize_number
from mobile_sync.store.list_order import any_of
from mobile_sync.store.list_pages import number_ids
from mobile_sync.store.models import Call, Contact, Lead, RecordPhone
from mobile_sync.store.text_prefix import starts_with, unindexed

MIN_DIGITS = 6
SORTS = ("last_call", "created", "name")
TEXT_COLUMNS = ("name", "company", "email")
# A number search names at most this many records; a calls search by a
# record's name looks at the calls of at most this many records of each kind.
MAX_MATCHED_RECORDS = 1000
_NUMBER_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")


@dataclass(frozen=True)
class Terms:
    """What a query asks for: a text prefix, or, when it reads as a number,
    its E.164 form and/or the digits it may end with."""

    text: str
    e164: str | None = None
    tails: tuple[str, ...] = ()

    @property
    def is_number(self) -> bool:
        return self.e164 is not None or bool(self.tails)


def read_query(q: str, region: str | None) -> Terms:
    text = " ".join(q.split())
    if not _NUMBER_LIKE.match(text):
        return Terms(text)
    digits = re.sub(r"\D", "", text)
    e164 = normalize_number(text, region).e164
    tails = ()
    if not text.startswith("+"):
        # As typed ("001027": the last digits of a number), and without the
        # trunk or international prefix a whole number is written with
        # ("020 7946 0958" ends "+44 20 7946 0958" whichever region reads it).
        tails = tuple(dict.fromkeys(tail[-15:] for tail in (digits, digits.lstrip("0")) if len(tail) >= MIN_DIGITS))
    return Terms(text, e164, tails)


def _suffix_keys(tail: str) -> list[str]:
    """The suffix keys a number ending in `tail` can have: its last 7 digits,
    or with fewer digits typed, each digit before them (and the tail itself,
    for national numbers shorter than the key)."""
    if len(tail) >= SUFFIX_DIGITS:
        return [tail[-SUFFIX_DIGITS:]]
    missing = SUFFIX_DIGITS - len(tail)
    return [f"{n:0{missing}d}{tail}" for n in range(10 ** missing)] + [tail]


def _phone_index_matches(organization_id: int, terms: Terms, record_type: str | None, column):
    """The phone index's rows with a number `terms` reads as: a UNION of one
    probe per form, each on its own index (as one OR, SQLite's multi-index OR
    took 30-40 ms inside a request's write transaction where each probe alone
    takes well under one)."""
    forms = []
    if terms.e164 is not None:
        forms.append(RecordPhone.e164 == terms.e164)
    for tail in terms.tails:
        forms.append(and_(RecordPhone.suffix.in_(_suffix_keys(tail)), RecordPhone.e164.endswith(tail)))
    probes = []
    for form in forms:
        probe = select(column).where(RecordPhone.organization_id == organization_id, form)
        if record_type is not None:
            # Tested on the numbers found: as an index condition, SQLite without
            # statistics read the organisation's every number of that type
            # through the unique index (organisation, record type, ...) instead.
            probe = probe.where(unindexed(RecordPhone.record_type) == record_type)
        probes.append(probe)
    return (probes[0].distinct() if len(probes) == 1 else union(*probes)).limit(MAX_MATCHED_RECORDS)


def text_condition(session, model, organization_id: int, column: str, text: str, indexed: bool = True):
    """`model`'s `column` (name, company or e-mail) starts with `text`, through
    its prefix index, or row by row (`indexed=False`: a list that walks the
    index of its order instead)."""
    lowered = func.lower(getattr(model, column))
    return and_(model.organization_id == organization_id,
                starts_with(session, lowered if indexed else unindexed(lowered), text))


def _text_matches(session, model, organization_id: int, text: str):
    return or_(*(text_condition(session, model, organization_id, column, text) for column in TEXT_COLUMNS))


def number_matches(session, organization_id: int, terms: Terms, record_type: str) -> list[int]:
    """Ids of the records (of `record_type`) with a number `terms` reads as:
    at most MAX_MATCHED_RECORDS, none when the query is no number."""
    if not terms.is_number:
        return []
    return number_ids(session, organization_id, record_type, e164=terms.e164, limit=MAX_MATCHED_RECORDS,
                      tails=tuple((tail, _suffix_keys(tail)) for tail in terms.tails))


def record_condition(session, model, record_type: str, organization_id: int, q: str, region: str | None):
    """Leads or contacts (`model`) that `q` finds: its text as a prefix and, when
    it reads as a number, the records with that number (the counts per status
    of a lead list; a page is read by mobile_sync.record_pages, branch by branch).
    One probe per branch, each read through its index (list_order.any_of)."""
    terms = read_query(q, region)
    if not terms.text:
        return true()
    probes = [text_condition(session, model, organization_id, column, terms.text) for column in TEXT_COLUMNS]
    ids = number_matches(session, organization_id, terms, record_type)
    if ids:
        probes.insert(0, and_(model.organization_id == organization_id, model.id.in_(ids)))
    return any_of(session, model.id, probes)


def call_condition(session, organization_id: int, q: str, region: str | None):
    """Calls that `q` finds: with that number (or a record's number ending in
    its digits), or with a lead or contact whose name, company or e-mail starts
    with it (the first MAX_MATCHED_RECORDS of each kind)."""
    terms = read_query(q, region)
    if not terms.text:
        return true()
    conditions = []
    if terms.is_number:
        numbers = set(session.execute(_phone_index_matches(organization_id, terms, None, RecordPhone.e164)).scalars())
        if terms.e164 is not None:
            numbers.add(terms.e164)
        if numbers:
            conditions.append(Call.e164.in_(sorted(numbers)))
    for model, record_type in ((Lead, "lead"), (Contact, "contact")):
        ids = list(session.execute(select(model.id).where(_text_matches(session, model, organization_id, terms.text))
                                   .limit(MAX_MATCHED_RECORDS)).scalars())
        if ids:
            conditions.append(and_(Call.record_type == record_type, Call.record_id.in_(ids)))
    return or_(*conditions) if conditions else false()
