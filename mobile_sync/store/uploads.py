"""An upload's rows of bookkeeping: the upload row (the processing outbox,
written in the same transaction as the calls) and the device's sync cursor.

Built once, like every statement an upload runs (building one cost about as
much as running it), and sent straight to the driver (`driver_rows`): the
ORM's unit of work, then SQLAlchemy's execution layer, cost more than the
statements themselves.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, bindparam, case, delete, insert, update

from mobile_sync.store.bulk_sql import driver_rows, upsert
from mobile_sync.store.dialect import per_engine
from mobile_sync.store.models import SyncCursor, SyncUpload
from mobile_sync.store.models.base import UTCDateTime

_UPLOADS = SyncUpload.__table__
_NEW_UPLOAD = insert(_UPLOADS).values(
    organization_id=bindparam("org"), device_id=bindparam("device"), user_id=bindparam("user"),
    kind=bindparam("kind"), batch_id=bindparam("batch"), created_at=bindparam("now", type_=UTCDateTime), accepted=0,
    attempts=0,
).returning(_UPLOADS.c.id)
_SET_ACCEPTED = update(_UPLOADS).where(_UPLOADS.c.id == bindparam("upload"),
                                       _UPLOADS.c.organization_id == bindparam("org")
                                       ).values(accepted=bindparam("count"))
_DROP_UPLOAD = delete(_UPLOADS).where(_UPLOADS.c.id == bindparam("upload"), _UPLOADS.c.organization_id == bindparam("org"))


def open_upload(session, organization_id: int, *, device_id: int, user_id: int, kind: str, batch_id: str,
                now: datetime) -> int:
    """A new upload row (nothing accepted yet); its id."""
    return driver_rows(session.connection(), _NEW_UPLOAD, {"org": organization_id, "device": device_id,
                                                          "user": user_id, "kind": kind, "batch": batch_id,
                                                          "now": now})[0][0]


def close_upload(session, organization_id: int, upload_id: int, accepted: int) -> None:
    """Record how many rows the upload stored; an upload that stored none
    (every row a duplicate) is removed: there is nothing to process."""
    if accepted:
        driver_rows(session.connection(), _SET_ACCEPTED, {"upload": upload_id, "org": organization_id,
                                                         "count": accepted})
    else:
        driver_rows(session.connection(), _DROP_UPLOAD, {"upload": upload_id, "org": organization_id})


class _CursorStatements:
    """INSERT ... ON CONFLICT DO UPDATE of a device's cursor, never moving it
    back; built once per engine (building it cost more than running it)."""

    def __init__(self):
        self.advance = None

    def advance_statement(self, session):
        if self.advance is None:
            table = SyncCursor.__table__
            statement = upsert(session, table).values(
                organization_id=bindparam("org"), device_id=bindparam("device"), kind=bindparam("kind"),
                cursor=bindparam("cursor", type_=BigInteger), last_synced_at=bindparam("now", type_=UTCDateTime))
            self.advance = statement.on_conflict_do_update(index_elements=["device_id", "kind"], set_={
                "cursor": case((statement.excluded.cursor > table.c.cursor, statement.excluded.cursor),
                               else_=table.c.cursor),
                "last_synced_at": statement.excluded.last_synced_at,
            }, where=table.c.organization_id == statement.excluded.organization_id).returning(table.c.cursor)
        return self.advance


_cursors = per_engine(_CursorStatements)


def advance_cursor(session, organization_id: int, *, device_id: int, kind: str, value: int | None,
                   now: datetime) -> str:
    """Move the device's cursor forward (never back); return it as a string.
    Another organisation's device is a LookupError (its cursor stays)."""
    rows = driver_rows(session.connection(), _cursors(session).advance_statement(session), {
        "org": organization_id, "device": device_id, "kind": kind, "cursor": value or 0, "now": now})
    if not rows:
        raise LookupError("no such device in this organisation")
    return str(rows[0][0])
