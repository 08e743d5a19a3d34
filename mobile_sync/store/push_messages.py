"""Recorded pushes: the phones a push goes to, recording a message, the
atomic claim of a message for sending and its outcome, how a sender's
statements reach the database (`run_for_sender`), and the outbox sweep's
look-ups. The statements of the ringing path are built once and go straight to
the driver."""
from __future__ import annotations

import threading
from collections import namedtuple
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Connection, bindparam, case, func, insert, null, or_, select, update
from sqlalchemy.exc import DBAPIError

from mobile_sync.store.bulk_sql import driver_rows, one_of
from mobile_sync.store.dialect import engine_of, per_engine
from mobile_sync.store.models import Device, PushMessage
from mobile_sync.store.models.base import UTCDateTime


# Built once: a ringing request (and the dispatcher right after it) runs these
# while the phone rings, and building a statement costs more than running it.
# Per kind of database (`one_of`): on PostgreSQL the users travel as one array,
# and the ring's variant also turns its transaction's flush off (`set_config`,
# what `bulk_sql.ephemeral_commit` sends as a statement of its own): one
# round trip less between the ring and the push.
_DEVICE_COLUMNS = (Device.id, Device.user_id, Device.push_public_key)
_EPHEMERAL = func.set_config("synchronous_commit", "off", True)
_DEVICES = {
    (on_postgresql, ephemeral): select(*_DEVICE_COLUMNS, *((_EPHEMERAL,) if ephemeral else ())).where(
        Device.organization_id == bindparam("org"), one_of(Device.user_id, "users", on_postgresql),
        Device.revoked_at.is_(None), or_(Device.fcm_fid.is_not(None), Device.fcm_token.is_not(None))
    ).order_by(Device.id)
    for on_postgresql, ephemeral in ((False, False), (True, False), (True, True))
}
_Device = namedtuple("_Device", ["id", "user_id", "push_public_key"])
# Where FCM delivers to a device: its installation ID ("fid") when the app runs
# in FCM's installation-ID mode, else its registration token ("token").
PushTarget = namedtuple("PushTarget", ["kind", "value"])
_TARGET_COLUMNS = {"fid": Device.fcm_fid, "token": Device.fcm_token}
_MESSAGES = PushMessage.__table__
# One statement per message (a ring has one or two devices), straight to the driver.
_QUEUED = ("organization_id", "push_id", "device_id", "user_id", "kind", "collapse_key", "ttl_s", "data", "status",
           "attempts", "error", "created_at", "expires_at")
_INSERT_ONE = insert(_MESSAGES).values({name: bindparam(name) for name in _QUEUED}).returning(_MESSAGES.c.id)
_CLAIM = (
    update(_MESSAGES).where(_MESSAGES.c.id == bindparam("message_id"), _MESSAGES.c.status == "queued")
    .values(status="sending")
    .returning(_MESSAGES.c.kind, _MESSAGES.c.data, _MESSAGES.c.collapse_key, _MESSAGES.c.ttl_s,
               _MESSAGES.c.expires_at, _MESSAGES.c.device_id, _MESSAGES.c.attempts,
               *[select(column).where(Device.id == _MESSAGES.c.device_id, Device.revoked_at.is_(None))
                 .scalar_subquery().label(kind) for kind, column in _TARGET_COLUMNS.items()])
)


_Claimed = namedtuple("_Claimed", [column.key for column in _CLAIM.exported_columns])
# A send's outcome; the delivery time for what was delivered (or sunk), and a
# delivered message keeps its record but not its (sealed) payload.
_RECORD = (
    update(_MESSAGES).where(_MESSAGES.c.id == bindparam("message_id"))
    .values(status=bindparam("new_status"), attempts=bindparam("new_attempts"), error=bindparam("new_error"),
            fcm_message_id=bindparam("new_fcm_message_id"),
            sent_at=func.coalesce(bindparam("new_sent_at", type_=UTCDateTime), _MESSAGES.c.sent_at),
            data=case((bindparam("drop_data", type_=Boolean), null()), else_=_MESSAGES.c.data))
)


class _DeviceStatements:
    """Generic: an expanding IN; every commit waits for the disk (SQLite)."""

    def devices(self, ephemeral_commit: bool):
        return _DEVICES[False, False]


class _PostgresDeviceStatements(_DeviceStatements):
    def devices(self, ephemeral_commit: bool):
        return _DEVICES[True, ephemeral_commit]


_device_statements = per_engine(_DeviceStatements, _PostgresDeviceStatements)


def devices_of(session, organization_id: int, user_ids, *, ephemeral_commit: bool = False) -> list:
    """The phones (rows of id, user_id, push_public_key) that can receive a push for these users.

    `ephemeral_commit`: when there is one, the transaction's commit will not
    wait for the disk flush (see `bulk_sql.ephemeral_commit`), set by this
    same statement: for a ring's push record, worth nothing once the phone
    stops ringing."""
    connection = session.connection()
    statement = _device_statements(connection).devices(ephemeral_commit)
    return [_Device(*row[:3]) for row in driver_rows(connection, statement,
                                                     {"org": organization_id, "users": list(user_ids)})]


def insert_message(session, row: dict) -> int:
    """Record one message (a row of `_QUEUED`'s columns); its id. One INSERT
    ... RETURNING on the session's connection, straight to the driver."""
    return driver_rows(session.connection(), _INSERT_ONE, row)[0][0]


def forget_push_target(session, device_id: int, target: PushTarget) -> None:
    """Drop a token or installation ID FCM reported unregistered or invalid
    (unless the phone has rotated it since). The other one, if the phone
    registered both, is tried next."""
    column = _TARGET_COLUMNS[target.kind]
    session.execute(update(Device).where(Device.id == device_id, column == target.value).values({column: None}))


def _target(row) -> PushTarget | None:
    if not row.device_id:
        return None
    if row.fid:
        return PushTarget("fid", row.fid)
    return PushTarget("token", row.token) if row.token else None


def claim_push(session, message_id: int) -> dict | None:
    """Take a queued message for sending, atomically, so a job run twice (RQ
    may), a sweep racing a worker, or the web dispatcher racing RQ never sends
    it twice. One statement (with the device's current push target), so it may run
    on a connection in autocommit mode. Returns what to send, or None when
    someone else has it or it is done."""
    connection = session if isinstance(session, Connection) else session.connection()
    rows = driver_rows(connection, _CLAIM, {"message_id": message_id})  # the ringing path
    if not rows:
        return None
    row = _Claimed(*rows[0])
    return {"kind": row.kind, "data": row.data, "collapse_key": row.collapse_key, "ttl_s": row.ttl_s,
            "expires_at": row.expires_at, "device_id": row.device_id,
            "target": _target(row), "attempts": row.attempts or 0}


def release_push(session, message_id: int, attempts: int) -> None:
    """Hand a claimed message back (its sender is stopping before it is done):
    queued again, with the attempts already made."""
    session.execute(update(PushMessage).where(PushMessage.id == message_id, PushMessage.status == "sending")
                    .values(status="queued", attempts=attempts).execution_options(synchronize_session=False))


def record_push_outcome(session, message_id: int, *, status: str, attempts: int, error: str | None,
                        fcm_message_id: str | None, now: datetime, device_id: int | None,
                        target: PushTarget | None) -> None:
    """A send's outcome; `session` may be a Connection (one statement unless the target goes)."""
    params = {"message_id": message_id, "new_status": status, "new_attempts": attempts, "new_error": error,
              "new_fcm_message_id": fcm_message_id, "new_sent_at": now if status in ("sent", "sink") else None,
              "drop_data": status == "sent"}
    driver_rows(session if isinstance(session, Connection) else session.connection(), _RECORD, params)
    if status == "token_removed" and device_id and target:
        forget_push_target(session, device_id, target)


def stale_pushes(session, now: datetime, min_age_s: int = 10) -> tuple[list[int], int]:
    """Queued messages whose job was lost (to send now), and how many outlived
    their TTL (queued → expired; sending → unknown)."""
    queued = list(session.execute(
        select(PushMessage.id).where(PushMessage.status == "queued", PushMessage.expires_at > now,
                                     PushMessage.created_at <= now - timedelta(seconds=min_age_s))
        .order_by(PushMessage.id).limit(1000).execution_options(all_organizations=True)).scalars())
    expired = session.execute(
        update(PushMessage).where(PushMessage.status == "queued", PushMessage.expires_at <= now)
        .values(status="expired", error="NOT_SENT_IN_TIME").execution_options(synchronize_session=False)
    ).rowcount
    # Claimed but never recorded: the sender died around the send. Delivery is
    # at most once, so it is not sent again; its fate is unknown.
    expired += session.execute(
        update(PushMessage).where(PushMessage.status == "sending", PushMessage.expires_at <= now)
        .values(status="unknown", error="SENDER_LOST").execution_options(synchronize_session=False)
    ).rowcount
    return queued, expired


class _Sending:
    """Generic: each piece of work in the session, committed (rolled back if
    it fails, so the session is ready for the next)."""

    def run(self, session, work):
        try:
            result = work(session)
            session.commit()
        except Exception:
            session.rollback()
            raise
        return result


class _PostgresSending(_Sending):
    """On a PostgreSQL connection each sender thread keeps, in autocommit
    mode: no BEGIN/COMMIT and no pool checkout with its ping between the ring
    and the send. Its commits do not wait for the disk flush
    (`synchronous_commit = off`): a database crash can forget the last
    fraction of a second of claims and outcomes, and such a message is then
    sent again by the sweep within its TTL, the same notification under the
    same collapse key, which the phone shows once."""

    def __init__(self):
        self._kept = threading.local()

    def run(self, session, work):
        engine = engine_of(session)
        driver = engine.dialect.loaded_dbapi  # the statements go to its cursor: its errors come as they are
        for attempt_ in (1, 2):
            connection = getattr(self._kept, "connection", None)
            if connection is None or connection.closed:
                connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql("SET synchronous_commit TO OFF")
                self._kept.connection = connection
            try:
                return work(connection)
            except (DBAPIError, driver.Error) as err:
                lost = err.connection_invalidated if isinstance(err, DBAPIError) else isinstance(
                    err, driver.OperationalError)
                # Given up, never pooled: it carries `synchronous_commit = off`,
                # which the next request's transactions must not inherit.
                connection.invalidate()
                connection.close()
                self._kept.connection = None
                if not lost or attempt_ == 2:
                    raise  # a kept connection the database dropped (a restart) gets one fresh try


_sending = per_engine(_Sending, _PostgresSending)


def run_for_sender(session, work):
    """`work(connection)`, committed, for a thread that sends recorded pushes
    (`claim_push`, `record_push_outcome`: one statement each). On PostgreSQL
    on the thread's own kept connection, without waiting for the disk flush;
    elsewhere in `session`."""
    return _sending(session).run(session, work)
