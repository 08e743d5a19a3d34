"""Uploading call batches as a phone does, for the benchmarks: device
tokens for seeded phones (`device_tokens`), the CPU the upload request's
database backends spend (`PoolCpu`), the upload a batch made (`upload_of`).
Used by `benchmarks.ingest_batches.time_ingest`."""
from __future__ import annotations

from datetime import datetime


def device_tokens(app, org_id: int, users: list[int], devices: list[int], now: datetime) -> dict[int, str]:
    """A device token for each of these phones (of `users`, in order; a
    seed makes them without one), issued as registration issues one; their
    earlier tokens are removed first. {device id: token}."""
    from sqlalchemy import delete

    from mobile_sync.store.models import AccessToken
    from mobile_sync.tokens import DEVICE_TOKEN, new_token
    from server.extensions import db

    tokens = {}
    with app.app_context():
        db.session.execute(delete(AccessToken).where(AccessToken.device_id.in_(devices))
                           .execution_options(all_organizations=True))
        for user_id, device_id in zip(users, devices):
            clear, digest = new_token(DEVICE_TOKEN)
            db.session.add(AccessToken(organization_id=org_id, user_id=user_id, device_id=device_id,
                                       token_hash=digest, created_at=now))
            tokens[device_id] = clear
        db.session.commit()
    return tokens


class PoolCpu:
    """The CPU time of the app's database backends while a connection is
    checked out of its pool, in ns (`/proc/PID/schedstat`), counted while
    `on`: what a request's statements cost the database, whichever pooled
    connection it took."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.on, self.db_ns = False, 0
        event.listen(engine, "checkout", self._out)
        event.listen(engine, "checkin", self._in)

    @staticmethod
    def _cpu(dbapi_connection) -> int:
        with open(f"/proc/{dbapi_connection.info.backend_pid}/schedstat") as stat:
            return int(stat.read().split()[0])

    def _out(self, dbapi_connection, record, _proxy) -> None:
        if self.on:
            record.info["bench_cpu"] = self._cpu(dbapi_connection)

    def _in(self, dbapi_connection, record) -> None:
        started = record.info.pop("bench_cpu", None)
        if started is not None and dbapi_connection is not None:
            self.db_ns += self._cpu(dbapi_connection) - started


def upload_of(model, batch_id: str, device_id: int):
    """The upload a batch made (its id: what the request's job would be handed)."""
    from sqlalchemy import select

    return select(model.id).where(model.batch_id == batch_id, model.device_id == device_id).execution_options(
        all_organizations=True)
