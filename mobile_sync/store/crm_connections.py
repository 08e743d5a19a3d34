"""An organisation's CRM connections as stored: read, saved, removed; the
status a delivery or a check leaves on them; and the pull's one-at-a-time
claim and its resumable cursor. Each function flushes, never commits."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from mobile_sync.errors import not_found
from mobile_sync.store.models import CrmConnection

RULE_FIELDS = ("call_types", "min_duration_s", "push_leads", "pull_every_h")


def find_connection(session, organization_id: int, crm: str) -> CrmConnection | None:
    return session.execute(select(CrmConnection).where(
        CrmConnection.organization_id == organization_id, CrmConnection.crm == crm)).scalar_one_or_none()


def get_connection(session, organization_id: int, crm: str) -> CrmConnection:
    connection = find_connection(session, organization_id, crm)
    if connection is None:
        raise not_found("integration")
    return connection


def connection_by_id(session, connection_id: int) -> CrmConnection | None:
    """A connection by id, any organisation's (the delivery jobs)."""
    return session.execute(select(CrmConnection).where(CrmConnection.id == connection_id)
                           .execution_options(all_organizations=True)).scalar_one_or_none()


def list_connections(session, organization_id: int) -> list[CrmConnection]:
    return session.execute(select(CrmConnection).where(CrmConnection.organization_id == organization_id)
                           .order_by(CrmConnection.crm)).scalars().all()


def connections_of(session, organization_id: int) -> list[CrmConnection]:
    """The organisation's connections (the push hook: one indexed look-up, usually empty)."""
    return list_connections(session, organization_id)


def save_connection(session, organization_id: int, crm: str, *, sealed_token: str, token_hint: str,
                    rules: dict, now: datetime) -> tuple[CrmConnection, bool]:
    """Create or replace the connection's token (checked by the caller) and
    rules; it is connected again. Returns it and whether it is new."""
    connection = find_connection(session, organization_id, crm)
    created = connection is None
    if created:
        connection = CrmConnection(organization_id=organization_id, crm=crm, call_types=[], min_duration_s=0,
                                   push_leads=True, pull_every_h=0, created_at=now)
        session.add(connection)
    connection.token = sealed_token
    connection.token_hint = token_hint
    for key in RULE_FIELDS:
        if key in rules:
            setattr(connection, key, rules[key])
    connection.status = "connected"
    connection.auth_failed_at = None
    connection.last_error = None
    connection.last_status_code = None
    connection.paused_until = None
    connection.updated_at = now
    session.flush()
    return connection, created


def update_rules(session, organization_id: int, crm: str, rules: dict, now: datetime) -> CrmConnection:
    connection = get_connection(session, organization_id, crm)
    for key in RULE_FIELDS:
        if key in rules:
            setattr(connection, key, rules[key])
    connection.updated_at = now
    session.flush()
    return connection


def delete_connection(session, organization_id: int, crm: str) -> None:
    """Remove the connection, its token and its push log."""
    session.delete(get_connection(session, organization_id, crm))
    session.flush()


def mark_auth_failed(connection: CrmConnection, status: int | None, now: datetime) -> None:
    """The CRM refused the token: pushes to it stop until an admin saves a good one."""
    connection.status = "auth_failed"
    connection.auth_failed_at = connection.auth_failed_at or now
    connection.last_error = "auth_failed"
    connection.last_status_code = status


def mark_error(connection: CrmConnection, error: str, status: int | None) -> None:
    connection.last_error = error
    connection.last_status_code = status


def mark_paused(connection: CrmConnection, until: datetime) -> None:
    """The CRM said wait (429): none of the connection's pushes before `until`."""
    if connection.paused_until is None or connection.paused_until < until:
        connection.paused_until = until
    connection.last_error = "rate_limited"
    connection.last_status_code = 429


def mark_ok(connection: CrmConnection) -> None:
    connection.last_error = None
    connection.last_status_code = None


# ------------------------------------------------------------------ the pull


def request_pull(session, organization_id: int, crm: str, now: datetime) -> CrmConnection:
    """Note that a pull was asked for (the job is queued after the commit)."""
    connection = get_connection(session, organization_id, crm)
    connection.pull_requested_at = now
    session.flush()
    return connection


def claim_pull(session, connection_id: int, now: datetime, lease: timedelta) -> bool:
    """Take the connection's pull unless a live one holds it: one statement,
    so two pullers released together get one yes between them."""
    claimed = session.execute(
        update(CrmConnection)
        .where(CrmConnection.id == connection_id,
               or_(CrmConnection.pull_claimed_until.is_(None), CrmConnection.pull_claimed_until < now))
        .values(pull_claimed_until=now + lease)
        .execution_options(synchronize_session=False, all_organizations=True))
    return claimed.rowcount == 1


def extend_pull(connection: CrmConnection, now: datetime, lease: timedelta) -> None:
    connection.pull_claimed_until = now + lease


def record_pull_page(connection: CrmConnection, cursor: str | None, seen_until: datetime | None, *,
                     people: int, removed: int) -> None:
    """A page imported: where the next one starts (kept so that a crash
    resumes), and what it did, added to the pull's counts (committed with
    the page, so a pull resumed in another run counts each page once)."""
    connection.pull_cursor = cursor
    # Added in the UPDATE, not from the value read (a second puller after a lapsed lease adds, not overwrites).
    connection.pull_people_so_far = CrmConnection.pull_people_so_far + people
    connection.pull_removed_so_far = CrmConnection.pull_removed_so_far + removed
    if seen_until is not None and (connection.pull_seen_until is None or seen_until > connection.pull_seen_until):
        connection.pull_seen_until = seen_until


def finish_pull(connection: CrmConnection, now: datetime) -> None:
    """The last page imported: the next pull reads what changed after the
    latest change read; the pull's counts become the last pull's (in the
    same UPDATE as the last page's additions: each side is the row's value
    before it, or that value plus the page's)."""
    if connection.pull_seen_until is not None:
        connection.pull_since = connection.pull_seen_until
    connection.pull_seen_until = None
    connection.pull_cursor = None
    connection.pull_claimed_until = None
    connection.pull_requested_at = None
    connection.last_pulled_at = now
    connection.last_pull_count, connection.pull_people_so_far = connection.pull_people_so_far, 0
    connection.last_pull_removed, connection.pull_removed_so_far = connection.pull_removed_so_far, 0


def release_pull(connection: CrmConnection) -> None:
    """Stop holding the pull (a failure): the cursor stays, the next pull resumes from it."""
    connection.pull_claimed_until = None


def due_pulls(session, now: datetime) -> list[int]:
    """Every organisation's connections whose pull is due: asked for, left
    half-done by a crash, or scheduled (every N hours) and not held."""
    rows = session.execute(select(
        CrmConnection.id, CrmConnection.pull_every_h, CrmConnection.last_pulled_at, CrmConnection.pull_cursor,
        CrmConnection.pull_requested_at).where(
        CrmConnection.status == "connected",
        or_(CrmConnection.pull_every_h > 0, CrmConnection.pull_cursor.is_not(None),
            CrmConnection.pull_requested_at.is_not(None)),
        or_(CrmConnection.pull_claimed_until.is_(None), CrmConnection.pull_claimed_until < now))
        .order_by(CrmConnection.id).execution_options(all_organizations=True)).all()
    due = []
    for row in rows:
        scheduled = row.pull_every_h > 0 and (
            row.last_pulled_at is None or row.last_pulled_at + timedelta(hours=row.pull_every_h) <= now)
        if scheduled or row.pull_cursor is not None or row.pull_requested_at is not None:
            due.append(row.id)
    return due
