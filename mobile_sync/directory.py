"""The on-device caller directory: the caller cards a rep may see, as a
delta after a cursor, so the phone can name callers with no network.

Every change of a number's card is logged (`directory_changes`, written
by `mobile_sync.store.directory_log`); the cursor is the last change id
the phone has seen. Cursor 0 replays the whole log, which is the full
directory.
"""
from __future__ import annotations

from sqlalchemy import func, select

from mobile_sync.caller_id import _cards, _shared
from mobile_sync.store.directory_log import RESET_MARKER
from mobile_sync.store.models import DirectoryChange, RecordPhone

PAGE = 1000


def directory_delta(session, organization_id: int, cursor_text: str, page: int = PAGE) -> dict:
    """Cards changed after the cursor; `reset` tells the phone to drop its cache first.

    Cursors are change ids; "r<id>" continues a rebuild that started from 0.
    """
    from mobile_sync.store.models import Organization

    org = session.get(Organization, organization_id)
    reset_after = int((org.settings or {}).get("directory_reset_after", 0))
    rebuilding = cursor_text.startswith("r")
    cursor = int(cursor_text.lstrip("r") or 0)
    reset = not rebuilding and 0 < cursor <= reset_after
    if reset:
        cursor, rebuilding = 0, True
    changes = session.execute(
        select(DirectoryChange.id, DirectoryChange.e164)
        .where(DirectoryChange.organization_id == organization_id, DirectoryChange.id > cursor)
        .order_by(DirectoryChange.id).limit(page + 1)
    ).all()
    more = len(changes) > page
    changes = changes[:page]
    numbers = sorted({e164 for _, e164 in changes if e164 != RESET_MARKER})
    refs: dict[str, list[tuple[str, int]]] = {}
    if numbers:
        for e164, record_type, record_id in session.execute(
            select(RecordPhone.e164, RecordPhone.record_type, RecordPhone.record_id)
            .where(RecordPhone.organization_id == organization_id, RecordPhone.e164.in_(numbers))
        ).all():
            refs.setdefault(e164, []).append((record_type, record_id))
    all_refs = sorted({ref for group in refs.values() for ref in group})
    cards_by_ref = {(c["record_type"], c["record_id"]): c for c in _cards(session, organization_id, all_refs)}
    cards, removed = [], []
    for e164 in numbers:
        group = [cards_by_ref[r] for r in refs.get(e164, []) if r in cards_by_ref]
        if not group:
            removed.append(e164)
            continue
        group.sort(key=lambda c: ({"contact": 0, "lead": 1, "user": 2}[c["record_type"]], c["record_id"]))
        best = [c for c in group if c["record_type"] == group[0]["record_type"]]
        card = best[0] if len(best) == 1 else _shared(best, e164, "exact")
        cards.append({"number": e164, "name": card["name"], "company": card["company"], "source": card["source"],
                      "owner": card["owner"], "record_type": card["record_type"], "record_id": card["record_id"]})
    next_cursor = changes[-1][0] if changes else cursor
    token = f"r{next_cursor}" if rebuilding and more else str(next_cursor)
    return {"cards": cards, "removed": removed, "cursor": token, "has_more": more, "reset": reset}


def latest_change_id(session, organization_id: int) -> int:
    return session.execute(select(func.max(DirectoryChange.id)).where(
        DirectoryChange.organization_id == organization_id)).scalar() or 0
