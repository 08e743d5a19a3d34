"""The locking discipline, written once: which transaction waits for which,
so that consent withdrawal, erasure and review decisions win against an
upload or a processing run in flight.

On PostgreSQL these are transaction-scoped advisory locks (released at
commit or rollback). SQLite runs one write transaction at a time (every
transaction begins IMMEDIATE), so there each function does nothing.

Who takes what, always in this order (so no two can wait on each other):

1. the organisation's erasure gate: uploads share it, an erasure holds it
   alone. An erasure waits for the uploads in flight to commit, and uploads
   that start meanwhile wait for the erasure, then see its erased numbers.
2. a device's consent: its uploads share it, a change of its consent holds
   it alone. A withdrawal waits for the upload in flight, then deletes what
   it stored; an upload that starts meanwhile then reads the withdrawal.
3. the organisation's processing: one processing run at a time, and consent
   withdrawal, erasure and merges wait for the run in flight (and it for
   them), instead of deleting rows the run is writing (a deadlock).
4. lead rows, in id order (`lock_leads`): review decisions.
5. contact rows, in id order (`lock_contacts`): a note, an edit or a
   deletion of a contact, and a CRM pull before it deletes the contacts of
   people deleted in the CRM; each then decides on the contact as it is now.
"""
from __future__ import annotations

from sqlalchemy import select, text

from mobile_sync.store.bulk_sql import driver_rows
from mobile_sync.store.dialect import per_engine

# Advisory-lock key spaces (PostgreSQL's two-integer form, so they never meet
# the one-bigint keys of processing).
_ERASURE_GATE = 0x43530001
_DEVICE_CONSENT = 0x43530002
PROCESSING_BASE = 0x43530000_00000000 >> 1  # + organisation id: one bigint key

_UPLOAD_LOCKS = text("SELECT pg_advisory_xact_lock_shared(:gate, :org), pg_advisory_xact_lock_shared(:consent, :device)")
_CONSENT_CHANGE = text("SELECT pg_advisory_xact_lock(:consent, :device)")
_ERASURE = text("SELECT pg_advisory_xact_lock(:gate, :org)")
_PROCESSING = text("SELECT pg_advisory_xact_lock(:key)")


class _Locks:
    """SQLite: one writer at a time already (every transaction begins IMMEDIATE)."""

    def take(self, session, statement, params: dict) -> None:
        pass


class _PostgresLocks(_Locks):
    def take(self, session, statement, params: dict) -> None:
        driver_rows(session.connection(), statement, params)


_locks = per_engine(_Locks, _PostgresLocks)


def lock_for_upload(session, organization_id: int, device_id: int) -> None:
    """An upload (calls or contacts) is about to check consent and erased
    numbers, then store: hold both off until it commits (locks 1 and 2, shared)."""
    _locks(session).take(session, _UPLOAD_LOCKS, {"gate": _ERASURE_GATE, "org": organization_id,
                                                  "consent": _DEVICE_CONSENT, "device": device_id})


def lock_consent_change(session, device_id: int) -> None:
    """The device's consent is about to change: wait for its uploads in flight (lock 2)."""
    _locks(session).take(session, _CONSENT_CHANGE, {"consent": _DEVICE_CONSENT, "device": device_id})


def lock_erasure(session, organization_id: int) -> None:
    """An erasure is about to run: wait for the uploads in flight and the
    processing run, and hold both off until it commits (locks 1 and 3)."""
    _locks(session).take(session, _ERASURE, {"gate": _ERASURE_GATE, "org": organization_id})
    lock_processing(session, organization_id)


def lock_processing(session, organization_id: int) -> None:
    """One processing run (or withdrawal, erasure, merge) of the organisation
    at a time (lock 3). Its leads, tasks and counters are shared by every rep;
    other organisations go on in parallel."""
    _locks(session).take(session, _PROCESSING, {"key": PROCESSING_BASE + organization_id})


def lock_leads(session, model, ids) -> None:
    """Row locks on these leads, in id order (lock 4), and their attributes
    read again: a review decision sees the state the last decision left."""
    ids = sorted(set(ids))
    if ids:
        session.execute(select(model).where(model.id.in_(ids)).order_by(model.id).with_for_update()
                        .execution_options(populate_existing=True)).scalars().all()


def lock_contacts(session, organization_id: int, ids) -> list:
    """Row locks on these contacts of the organisation, in id order (lock 5),
    read again as they are now (the session's objects refreshed); returns
    those that still exist. A change waits for a deletion in flight and then
    finds the contact gone; a deletion waits for a change and then sees it."""
    from mobile_sync.store.models import Contact

    ids = sorted(set(ids))
    if not ids:
        return []
    return list(session.execute(
        select(Contact).where(Contact.organization_id == organization_id, Contact.id.in_(ids))
        .order_by(Contact.id).with_for_update().execution_options(populate_existing=True)).scalars())
