"""One query box for leads, contacts and calls (`q`): a name, company or
e-mail prefix, or any form of a number — national, international, or its
last 6+ digits — and the orders a list may take (`sort`).

Every condition is an index probe: text prefixes go through the indexes on
`lower(name)`, `lower(company)` and `lower(email)` (mobile_sync.store.text_prefix);
a whole number through the phone index's E.164; trailing digits through its
suffix key (the last 7 digits of the national number, Android's min match),
so no `LIKE '%…'` ever scans an organisation's numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from mobile_sync.phones import SUFFIX_DIGITS, normalize_number
from mobile_sync.store.models import Call, Contact, Lead, RecordPhone
from mobile_sync.store.text_prefix import starts_with

MIN_DIGITS = 6
SORTS = ("last_call", "created", "name")
_NUMBER_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")


@dataclass(frozen=True)
class Terms:
    """What a query asks for: a text prefix, and, when it reads as a number,
    its E.164 form and/or the digits it ends with."""

    text: str
    e164: str | None = None
    tail: str | None = None


def read_query(q: str, region: str | None) -> Terms:
    text = " ".join(q.split())
    if not _NUMBER_LIKE.match(text):
        return Terms(text)
    # Trunk and international prefixes (0, 00, 011...) lead; the tail that is
    # left ends the number's E.164 form whichever country it is from.
    digits = re.sub(r"\D", "", text).lstrip("0")
    e164 = normalize_number(text, region).e164
    tail = digits[-15:] if len(digits) >= MIN_DIGITS and not text.startswith("+") else None
    return Terms(text, e164, tail)


def _suffix_keys(tail: str) -> list[str]:
    """The suffix keys a number ending in `tail` can have: its last 7 digits,
    or with fewer digits typed, each digit before them (and the tail itself,
    for national numbers shorter than the key)."""
    if len(tail) >= SUFFIX_DIGITS:
        return [tail[-SUFFIX_DIGITS:]]
    missing = SUFFIX_DIGITS - len(tail)
    return [f"{n:0{missing}d}{tail}" for n in range(10 ** missing)] + [tail]


def numbers_matching(organization_id: int, terms: Terms, record_type: str | None = None):
    """A select of (record_type, record_id, e164) in the phone index for the query's number, or None."""
    if terms.e164 is None and terms.tail is None:
        return None
    found = []
    if terms.e164 is not None:
        found.append(RecordPhone.e164 == terms.e164)
    if terms.tail is not None:
        found.append(and_(RecordPhone.suffix.in_(_suffix_keys(terms.tail)), RecordPhone.e164.endswith(terms.tail)))
    query = select(RecordPhone.record_id).where(RecordPhone.organization_id == organization_id, or_(*found))
    if record_type is not None:
        query = query.where(RecordPhone.record_type == record_type)
    return query


def _text_matches(session, model, text: str):
    return [starts_with(session, func.lower(column), text) for column in (model.name, model.company, model.email)]


def record_condition(session, model, record_type: str, organization_id: int, q: str, region: str | None):
    """Leads or contacts (`model`) that `q` finds."""
    terms = read_query(q, region)
    conditions = _text_matches(session, model, terms.text)
    numbers = numbers_matching(organization_id, terms, record_type)
    if numbers is not None:
        conditions.append(model.id.in_(numbers))
    return or_(*conditions)


def call_condition(session, organization_id: int, q: str, region: str | None):
    """Calls that `q` finds: with that number, or with a lead or contact whose name,
    company or e-mail starts with it (or whose numbers end with its digits)."""
    terms = read_query(q, region)
    conditions = []
    if terms.e164 is not None:
        conditions.append(Call.e164 == terms.e164)
    for model, record_type in ((Lead, "lead"), (Contact, "contact")):
        found = select(model.id).where(model.organization_id == organization_id,
                                       or_(*_text_matches(session, model, terms.text)))
        conditions.append(and_(Call.record_type == record_type, Call.record_id.in_(found)))
    if terms.tail is not None:
        numbers = numbers_matching(organization_id, Terms(terms.text, None, terms.tail))
        conditions.append(Call.e164.in_(numbers.with_only_columns(RecordPhone.e164)))
    return or_(*conditions)


def record_order(model, sort: str | None):
    """ORDER BY for a list of leads or contacts: newest first unless `sort` says otherwise."""
    if sort == "name":
        return (func.lower(model.name), model.id)
    if sort == "last_call":
        return (model.last_call_at.desc().nulls_last(), model.id.desc())
    return (model.created_at.desc(), model.id.desc())
