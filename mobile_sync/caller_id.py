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

from functools import lru_cache

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import aliased

from mobile_sync.number_hash import PHONEBOOK, number_hash
from mobile_sync.phones import format_international, normalize_number, region_for
from server.models import Contact, Lead, PhonebookContact, PhonebookNumber, RecordPhone, User
from server.models.calls import CALL_TYPES

PRECEDENCE = {"contact": 0, "lead": 1, "user": 2}
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


def _index_rows(session, org_id: int, number) -> tuple[list[tuple[str, int]], str]:
    rows = session.execute(
        select(RecordPhone.record_type, RecordPhone.record_id)
        .where(RecordPhone.organization_id == org_id, RecordPhone.e164 == number.e164)
    ).all()
    if rows:
        return [tuple(r) for r in rows], "exact"
    rows = session.execute(
        select(RecordPhone.record_type, RecordPhone.record_id, RecordPhone.e164)
        .where(RecordPhone.organization_id == org_id, RecordPhone.suffix == number.suffix).limit(50)
    ).all()
    if not rows:
        return [], "none"
    national = _national(number.e164)
    same_national = [(t, i) for t, i, e in rows if _national(e) == national]
    if same_national:
        return same_national, "national"
    return [(t, i) for t, i, _ in rows], "suffix"


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
                "last_call_type": CALL_TYPES.get(row[7]), "last_note": _trim(row[8]),
                "lead_status": row[9] if model is Lead else None,
            })
    if by_type.get("user"):
        for uid, name in session.execute(
            select(User.id, User.name).where(User.organization_id == org_id, User.id.in_(by_type["user"]))
        ).all():
            cards.append({"record_type": "user", "record_id": uid, "name": name, "company": None, "source": None,
                          "owner_id": None, "owner": None, "last_spoken_at": None, "last_call_type": None,
                          "last_note": None, "lead_status": None})
    cards.sort(key=lambda c: (PRECEDENCE[c["record_type"]], c["record_id"]))
    return cards


def _phonebook_card(session, org_id: int, user_id: int, e164: str, hash_key: str) -> dict | None:
    row = session.execute(
        select(PhonebookContact.id, PhonebookContact.display_name, PhonebookContact.company)
        .join(PhonebookNumber, PhonebookNumber.contact_id == PhonebookContact.id)
        .where(PhonebookNumber.user_id == user_id,
               PhonebookNumber.number_hash == number_hash(hash_key, PHONEBOOK, org_id, e164)).limit(1)
    ).first()
    if row is None:
        return None
    return {"record_type": "phone_contact", "record_id": None, "name": row[1], "company": row[2], "source": None,
            "owner_id": user_id, "owner": None, "last_spoken_at": None, "last_call_type": None,
            "last_note": None, "lead_status": None}


def _shared(cards: list[dict], e164: str, grade: str) -> dict:
    companies = {c["company"] for c in cards if c["company"]}
    company = companies.pop() if len(companies) == 1 else None
    return {"record_type": "shared", "record_id": None, "name": company or format_international(e164),
            "company": company, "source": None, "owner_id": None, "owner": None,
            "last_spoken_at": max((c["last_spoken_at"] for c in cards if c["last_spoken_at"]), default=None),
            "last_call_type": None, "last_note": None, "lead_status": None, "grade": grade}


def lookup_caller(session, *, org_id: int, org_region: str | None, user_id: int | None, user_region: str | None,
                  raw_number: str, hash_key: str) -> dict:
    """The caller's context for a ringing number, as the API answers it."""
    number = normalize_number(raw_number, region_for(user_region, org_region))
    if not number.matchable:
        return {"number": None, "number_status": number.status, "match": None, "candidates": []}
    refs, grade = _index_rows(session, org_id, number)
    result = {"number": number.e164, "number_status": number.status, "match": None, "candidates": []}
    if refs:
        cards = _cards(session, org_id, refs)
        for card in cards:
            card["grade"] = grade
        best = [c for c in cards if c["record_type"] == cards[0]["record_type"]] if cards else []
        if len(best) == 1:
            result["match"] = best[0]
            result["candidates"] = cards[1:]
        elif best and grade != "suffix":
            result["match"] = _shared(best, number.e164, grade)
            result["candidates"] = cards
        else:
            result["candidates"] = cards  # several records share these last digits: not confident
    if result["match"] is None and user_id is not None:
        card = _phonebook_card(session, org_id, user_id, number.e164, hash_key)
        if card is not None:
            card["grade"] = "exact"
            result["match"] = card
    return result
