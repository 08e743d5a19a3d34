"""CRM pushes and pulls as background work, on the webhooks' pattern: push
items queued after the commit that wrote them (one session hook), sent by
`deliver_crm_pushes` in RQ (ids in; each item claimed and committed before
it is sent), retried at their due time, and swept up by `sweep_crm` when a
job was lost or a pull is due (the scheduler, every 30 s).

Embedded default (no Redis): sends and pulls run in this process right
after the commit; retries wait for the sweep."""
from __future__ import annotations

import logging
import random
from datetime import datetime

from flask import current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from mobile_sync.crm.delivery import Clients, send_pushes
from mobile_sync.crm.pull import run_pull
from mobile_sync.crm.registry import client_for
from mobile_sync.store.crm_connections import due_pulls
from mobile_sync.store.crm_pushes import due_pushes, take_written_pushes
from server.clock import now
from server.extensions import db, redis_connection
from server.queue import JOB_DEFAULTS, rq_queue

log = logging.getLogger(__name__)
_rng = random.Random()
CHUNK = 50  # items a job
PENDING_PULLS = "crm_pulls_asked"  # session.info key: connections whose pull is queued after the commit


def install_hook() -> None:
    """Queue the push items written in a transaction once it commits (every session; idempotent)."""
    if not event.contains(Session, "after_commit", _queue_after_commit):
        event.listen(Session, "after_commit", _queue_after_commit)
        event.listen(Session, "after_rollback", _forget_after_rollback)


def _queue_after_commit(session) -> None:
    ids = take_written_pushes(session)
    pulls = session.info.pop(PENDING_PULLS, None) or []
    if has_app_context():
        if ids:
            queue_pushes(ids)
        for connection_id in pulls:
            queue_pull(connection_id)


def queue_pull_after_commit(session, connection_id: int) -> None:
    """Queue the connection's pull once the caller's transaction commits."""
    session.info.setdefault(PENDING_PULLS, []).append(connection_id)


def _forget_after_rollback(session) -> None:
    take_written_pushes(session)
    session.info.pop(PENDING_PULLS, None)


def queue_pushes(push_ids: list[int]) -> None:
    for start in range(0, len(push_ids), CHUNK):
        chunk = list(push_ids[start:start + CHUNK])
        if redis_connection() is None:
            _in_own_session(_deliver, chunk)
            continue
        try:
            rq_queue("default").enqueue(deliver_crm_pushes, chunk, **JOB_DEFAULTS)
        except RedisError as err:  # the sweep sends them later
            log.warning("could not queue %s CRM pushes (%s)", len(chunk), type(err).__name__)


def queue_pull(connection_id: int) -> None:
    if redis_connection() is None:
        _in_own_session(_pull, connection_id)
        return
    try:
        rq_queue("default").enqueue(pull_crm_people, connection_id, **JOB_DEFAULTS)
    except RedisError as err:  # the sweep runs it (pull_requested_at is set)
        log.warning("could not queue a CRM pull (%s)", type(err).__name__)


def _in_own_session(func, arg) -> None:
    """The embedded mode: run now, on a session of its own (the caller's is
    in the middle of its commit). A failure leaves the work for the sweep."""
    session = Session(bind=db.engine, expire_on_commit=False)
    try:
        func(session, arg)
    except Exception as err:
        session.rollback()
        log.warning("in-process CRM work failed: %s", type(err).__name__)
    finally:
        session.close()


def make_client(crm: str, token: str):
    factory = current_app.extensions.get("crm_client_factory")  # tests may wrap the clients
    return factory(crm, token) if factory else client_for(crm, current_app.config, token)


def deliver_crm_pushes(push_ids: list[int]) -> int:
    """Send the given items that are due; returns how many were delivered.
    Idempotent: an item another sender holds, or already sent, is skipped."""
    return _deliver(db.session, push_ids)


def _deliver(session, push_ids: list[int]) -> int:
    config = current_app.config
    clients = Clients(make_client, config["SECRETS_KEY"])
    try:
        result = send_pushes(session, push_ids, clients=clients, now=now, hash_key=config["HASH_KEY"],
                             timeout_s=float(config.get("CRM_TIMEOUT_S", 15)), rng=_rng, commit=session.commit)
    finally:
        clients.close()
    for connection_id in result.auth_failed:
        log.warning("CRM connection %s: the token was refused; its pushes wait", connection_id)
    _schedule_retries(result.retry_at)
    return result.delivered


def _schedule_retries(retry_at: dict[int, datetime]) -> None:
    if not retry_at or redis_connection() is None:
        return
    for push_id, due in retry_at.items():
        try:
            rq_queue("default").enqueue_at(due, deliver_crm_pushes, [push_id], **JOB_DEFAULTS)
        except RedisError as err:  # the sweep takes it when it is due
            log.warning("could not schedule a CRM retry (%s)", type(err).__name__)


def pull_crm_people(connection_id: int) -> int:
    """One connection's pull (or its next pages); nothing if another pull holds it."""
    return _pull(db.session, connection_id)


def _pull(session, connection_id: int) -> int:
    config = current_app.config
    result = run_pull(session, connection_id, make_client=make_client, sealing_key=config["SECRETS_KEY"],
                      hash_key=config["HASH_KEY"], now=now, commit=session.commit,
                      timeout_s=float(config.get("CRM_TIMEOUT_S", 15)))
    if result.error:
        log.warning("CRM pull of connection %s stopped: %s", connection_id, result.error)
    return result.people


def sweep_crm(limit: int = 5000) -> int:
    """Queue again every push item that is due and held by no live sender
    (a lost job, a killed worker, a retry come due) and every pull that is
    due (scheduled, asked for, or left half-done)."""
    moment = now()
    ids = due_pushes(db.session, moment, limit)
    pulls = due_pulls(db.session, moment)
    db.session.commit()
    if ids:
        queue_pushes(ids)
        log.info("CRM sweep: %s pushes queued again", len(ids))
    for connection_id in pulls:
        queue_pull(connection_id)
    return len(ids) + len(pulls)
