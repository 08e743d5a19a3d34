"""Who is calling: the ringing number → the caller's context, in a few
indexed queries (never a `LIKE '%…'` scan).

Order: exact E.164 in the phone index; then the suffix key (last digits of
the national significant number), graded `national` when the whole national
number agrees and `suffix` otherwise, and confident only when it points to
one record. Precedence: CRM contact, then lead, then a colleague, then the
rep's own phone book. A number shared by several records (a switchboard)
answers with the company and the candidates, not a random person.
"""
from __future__ import annotations

from datetime import timezone
from functools import lru_cache

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import aliased

from mobile_sync.call_types import LABELS
from mobile_sync.number_hash import PHONEBOOK, number_hash
from mobile_sync.phones import format_international, normalize_number, region_for
from mobile_sync.record_kinds import RANK
from mobile_sync.store.caller_lookup import lookup_rows
from mobile_sync.store.models import Contact, Lead, User

NOTE_CHARS = 140
_Owner = aliased(User)


@lru_cache(maxsize=65_536)
def _national(e164: str) -> str:
    return phonenumbers.national_significant_number(phonenumbers.parse(e164, None))


def _trim(note: str | None) -> str | None:
    if not note:
        return None
    note = " ".join(note.split())
    return note if len(note) <= NOTE_CHARS else note[: NOTE_CHARS - 1] + "…"


def _cards(session, org_id: int, refs: list[tuple[str, int]]) -> list[dict]:
    by_type: dict[str, list[int]] = {}
    for record_type, record_id in refs:
        by_type.setdefault(record_type, []).append(record_id)
    cards = []
    for record_type, model in (("contact", Contact), ("lead", Lead)):
        ids = by_type.get(record_type)
        if not ids:
            continue
        columns = [model.id, model.name, model.company, model.source, model.owner_id, _Owner.name,
                   model.last_spoken_at, model.last_call_type, model.last_note]
        if model is Lead:
            columns.append(Lead.status)
        rows = session.execute(
            select(*columns).outerjoin(_Owner, _Owner.id == model.owner_id)
            .where(model.organization_id == org_id, model.id.in_(ids))
        ).all()
        for row in rows:
            cards.append({
                "record_type": record_type, "record_id": row[0], "name": row[1], "company": row[2],
                "source": row[3], "owner_id": row[4], "owner": row[5], "last_spoken_at": row[6],
                "last_call_type": LABELS.get(row[7]), "last_note": _trim(row[8]),
                "lead_status": row[9] if model is Lead else None,
            })
    if by_type.get("user"):
        for uid, name in session.execute(
            select(User.id, User.name).where(User.organization_id == org_id, User.id.in_(by_type["user"]))
        ).all():
            cards.append({"record_type": "user", "record_id": uid, "name": name, "company": None, "source": None,
                          "owner_id": None, "owner": None, "last_spoken_at": None, "last_call_type": None,
                          "last_note": None, "lead_status": None})
    cards.sort(key=lambda c: (RANK[c["record_type"]], c["record_id"]))
    return cards


def _shared(cards: list[dict], e164: str, grade: str) -> dict:
    companies = {c["company"] for c in cards if c["company"]}
    company = companies.pop() if len(companies) == 1 else None
    return {"record_type": "shared", "record_id": None, "name": company or format_international(e164),
            "company": company, "source": None, "owner_id": None, "owner": None,
            "last_spoken_at": max((c["last_spoken_at"] for c in cards if c["last_spoken_at"]), default=None),
            "last_call_type": None, "last_note": None, "lead_status": None, "grade": grade}


def _card_from_row(row, grade: str) -> dict:
    spoken = row.last_spoken_at
    return {
        "record_type": row.record_type, "record_id": row.record_id, "name": row.name, "company": row.company,
        "source": row.source, "owner_id": row.owner_id, "owner": row.owner,
        "last_spoken_at": spoken.astimezone(timezone.utc).isoformat() if spoken else None,
        "last_call_type": LABELS.get(row.last_call_type), "last_note": _trim(row.last_note),
        "lead_status": row.lead_status, "grade": grade,
    }


def lookup_caller(session, *, org_id: int, org_region: str | None, user_id: int | None, user_region: str | None,
                  raw_number: str, hash_key: str) -> dict:
    """The caller's context for a ringing number, JSON-ready, as the API answers it."""
    number = normalize_number(raw_number, region_for(user_region, org_region))
    if not number.matchable:
        return {"number": None, "number_status": number.status, "match": None, "candidates": []}
    rows = lookup_rows(session, lookup_params(number, org_id=org_id, user_id=user_id, hash_key=hash_key))
    return caller_context(number, rows, user_id)


def lookup_params(number, *, org_id: int, user_id: int | None, hash_key: str) -> dict:
    """The look-up statement's parameters for a matchable number."""
    book_hash = number_hash(hash_key, PHONEBOOK, org_id, number.e164) if user_id is not None else ""
    return {"org": org_id, "e164": number.e164, "suffix": number.suffix, "user": user_id or 0,
            "book_hash": book_hash}


def caller_context(number, rows, user_id: int | None) -> dict:
    """The answer from the look-up statement's rows: grade, precedence, a
    shared number, else the rep's own phone book."""
    phone_book = [r for r in rows if r.record_type == "phone_contact"]
    records = [r for r in rows if r.record_type != "phone_contact" and r.name is not None]
    result = {"number": number.e164, "number_status": number.status, "match": None, "candidates": []}
    if records:
        if records[0].e164 == number.e164:
            grade = "exact"
        else:
            national = _national(number.e164)
            same = [r for r in records if _national(r.e164) == national]
            records, grade = (same, "national") if same else (records, "suffix")
        records.sort(key=lambda r: (RANK[r.record_type], r.record_id))
        cards = [_card_from_row(r, grade) for r in records]
        best = [c for c in cards if c["record_type"] == cards[0]["record_type"]]
        if len(best) == 1:
            result["match"], result["candidates"] = best[0], cards[1:]
        elif grade != "suffix":
            shared = _shared(best, number.e164, grade)
            result["match"], result["candidates"] = shared, cards
        else:
            result["candidates"] = cards  # several records share these last digits: not confident
    if result["match"] is None and phone_book:
        card = _card_from_row(phone_book[0], "exact")
        card["owner_id"] = user_id
        result["match"] = card
    return result
