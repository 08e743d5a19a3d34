"""The phones' directory log (`directory_changes`): which numbers' caller
cards changed, decided in this one module so that no mutation can forget it.

A card (`mobile_sync.directory`, `GET /api/v1/directory`) shows, for one
number, the record that holds it in the phone index and that record's name,
company, source and owner's name. So a card changes exactly when:

1. a number joins or leaves the phone index (`record_phones`): a record
   made, a number added or removed, a merge, a delete, an erasure, a
   colleague's own number. Index rows are written set-wise with Core
   statements (a batch at a time on the processing path), which no ORM
   event sees, so they are written here, by `add_record_phones` and
   `delete_record_phones`, which log the numbers they touch: one INSERT
   for the set.
2. a card field of a record changes: `CARD_FIELDS` of Contact, Lead and User
   (a user's name is their own card's name and the owner on every card of
   the records they own). These are ORM attribute changes (a rename, an
   assign), so a `before_flush` listener finds them among the session's
   dirty and deleted objects and logs the records' numbers with one
   INSERT ... SELECT per organisation. When no card field changed it runs
   no query: a type look-up and a set test per modified object (0.8 ms for
   the 1,000 records a processing batch dirties on SQLite, 0.5% of their
   flush; on PostgreSQL processing updates them with Core statements).

What a card does not show is not logged: last spoken, last call, the last
note and a lead's status are caller-ID context read online, and they change
with every processed call; logging them would send phones a change per call.

A Core UPDATE of a card field bypasses the listener and must call
`log_record_numbers` (none does: erasure's redaction of names is covered by
the directory reset it requires). A bulk path that inserts index rows its own
way logs them with `log_numbers`.

An erasure removes the erased number's change rows (`forget_number`); phones
whose cursor is older must then rebuild from scratch (the reset marker).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, event, insert, literal, or_, select
from sqlalchemy.orm import Session, attributes

from mobile_sync.store.bulk_sql import insert_rows
from mobile_sync.store.models import Contact, DirectoryChange, Lead, RecordPhone, User
from mobile_sync.store.models.base import utcnow

# What each record's card shows; a change of any other column is no card change.
CARD_FIELDS = {
    Contact: frozenset({"name", "company", "source", "owner_id"}),
    Lead: frozenset({"name", "company", "source", "owner_id"}),
    User: frozenset({"name"}),
}
RECORD_TYPES = {Contact: "contact", Lead: "lead", User: "user"}
OWNED = {"contact": Contact, "lead": Lead}  # records whose card names their owner
RESET_MARKER = ""

_CHANGES = DirectoryChange.__table__
_PHONES = RecordPhone.__table__


LOG_COLUMNS = ("organization_id", "e164", "created_at")


def log_numbers(session, organization_id: int, e164s, now: datetime, write=None) -> None:
    """These numbers' cards changed: one INSERT for the whole set. `write`:
    a bulk path's own writer of rows (table, LOG_COLUMNS, [tuples]), such as
    the contact import's COPY."""
    numbers = sorted(set(e164s))
    if write is not None:
        write(_CHANGES, LOG_COLUMNS, [(organization_id, e164, now) for e164 in numbers])
        return
    insert_rows(session, _CHANGES, [{"organization_id": organization_id, "e164": e164, "created_at": now}
                                    for e164 in numbers])


def log_record_numbers(session, organization_id: int, refs, now: datetime, owners=()) -> None:
    """The cards of every number of these records ((record_type, id) pairs),
    and of every record owned by `owners` (user ids), changed: one
    INSERT ... SELECT from the phone index."""
    by_type: dict[str, set[int]] = {}
    for record_type, record_id in refs:
        by_type.setdefault(record_type, set()).add(record_id)
    p = _PHONES.c
    held = [and_(p.record_type == record_type, p.record_id.in_(sorted(ids))) for record_type, ids in by_type.items()]
    if owners:
        owners = sorted(set(owners))
        for record_type, model in OWNED.items():
            table = model.__table__.c
            held.append(and_(p.record_type == record_type, p.record_id.in_(
                select(table.id).where(table.organization_id == organization_id, table.owner_id.in_(owners)))))
    if not held:
        return
    numbers = (select(p.organization_id, p.e164, literal(now, _CHANGES.c.created_at.type))
               .where(p.organization_id == organization_id, or_(*held)).distinct())
    session.connection().execute(insert(_CHANGES).from_select(["organization_id", "e164", "created_at"], numbers))


def add_record_phones(session, organization_id: int, rows: list[dict], now: datetime) -> None:
    """Index these numbers (rows of record_type, record_id, e164, suffix, raw,
    extension) and log them: two statements for any number of rows."""
    if not rows:
        return
    insert_rows(session, _PHONES, [{"organization_id": organization_id, **row} for row in rows])
    log_numbers(session, organization_id, (row["e164"] for row in rows), now)


def delete_record_phones(session, organization_id: int, *conditions, now: datetime,
                         unannounced: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Remove the index rows matching `conditions` and log their numbers,
    except `unannounced` (numbers being erased: their log goes too). Returns
    the number of each row deleted."""
    gone = [e164 for (e164,) in session.execute(
        delete(_PHONES).where(_PHONES.c.organization_id == organization_id, *conditions)
        .returning(_PHONES.c.e164))]
    log_numbers(session, organization_id, set(gone) - set(unannounced), now)
    return gone


def forget_number(session, org, e164: str) -> int:
    """An erased number leaves the log, and every phone whose cursor is older
    rebuilds its directory from scratch. Returns the change rows deleted."""
    deleted = session.execute(delete(_CHANGES).where(_CHANGES.c.organization_id == org.id,
                                                     _CHANGES.c.e164 == e164)).rowcount or 0
    # A marker row (no number) ends the old history: cursors before it
    # rebuild, and ids never go back below it.
    marker = session.execute(insert(_CHANGES).values(organization_id=org.id, e164=RESET_MARKER, created_at=utcnow())
                             .returning(_CHANGES.c.id)).scalar_one()
    org.settings = {**(org.settings or {}), "directory_reset_after": marker - 1}
    return deleted


def _card_changed(state, fields) -> bool:
    changed = fields.intersection(state.committed_state)
    return bool(changed) and any(attributes.get_history(state.obj(), key).has_changes() for key in changed)


@event.listens_for(Session, "before_flush")
def _log_changed_cards(session, flush_context, instances) -> None:
    """Log the numbers of every record whose card fields this flush changes."""
    refs: dict[int, set[tuple[str, int]]] = {}
    owners: dict[int, set[int]] = {}
    numbers: dict[int, set[str]] = {}
    for obj in session.dirty:
        fields = CARD_FIELDS.get(type(obj))
        if fields is not None:
            state = attributes.instance_state(obj)
            if not fields.isdisjoint(state.committed_state) and _card_changed(state, fields):
                _note_record(obj, refs, owners)
        elif type(obj) is RecordPhone:
            history = attributes.get_history(obj, "e164")
            if history.has_changes():
                numbers.setdefault(obj.organization_id, set()).update(
                    e for e in (*history.added, *history.deleted) if e)
    for obj in session.deleted:
        if type(obj) in CARD_FIELDS:
            _note_record(obj, refs, owners)
        elif type(obj) is RecordPhone:
            numbers.setdefault(obj.organization_id, set()).add(obj.e164)
    for obj in session.new:  # a new record has no numbers yet; index rows made as objects do
        if type(obj) is RecordPhone and obj.e164:
            numbers.setdefault(obj.organization_id, set()).add(obj.e164)
    if not (refs or owners or numbers):
        return
    now = utcnow()
    for organization_id in refs.keys() | owners.keys():
        log_record_numbers(session, organization_id, refs.get(organization_id, ()), now,
                           owners=owners.get(organization_id, ()))
    for organization_id, e164s in numbers.items():
        log_numbers(session, organization_id, e164s, now)


def _note_record(obj, refs: dict, owners: dict) -> None:
    record_type = RECORD_TYPES[type(obj)]
    refs.setdefault(obj.organization_id, set()).add((record_type, obj.id))
    if record_type == "user":
        owners.setdefault(obj.organization_id, set()).add(obj.id)
