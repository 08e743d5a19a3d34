"""One `enqueue()` for background work, and `enqueue_unless_queued()` for
work that one queued job does for everyone who asked before it started.

REDIS_URL set: the job goes to RQ, to run in a worker. Unset (the embedded
default): it runs now, in this process, after the caller's commit; this is
logged once, and refused in production (see `server.app`). Jobs take ids and
plain values only, never personal data, because RQ keeps arguments in Redis.
"""
from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError

from server.extensions import db, redis_connection

log = logging.getLogger(__name__)

QUEUES = ("push", "default", "maintenance")
# Failed jobs keep their (id-only) arguments for a week, not RQ's default year.
# A job's effects are in the database; its return value is not kept (storing
# it was Redis writes on every job for nothing anyone reads).
JOB_DEFAULTS = {"result_ttl": 0, "failure_ttl": 7 * 86400, "job_timeout": 600}


def rq_queue(name: str = "default"):
    from rq import Queue

    return Queue(name, connection=redis_connection())


def enqueue(func, *args, queue: str = "default", **options) -> bool:
    """Run `func(*args)` in the background; return False if it could not be
    queued (the outbox sweeper picks such work up later)."""
    if redis_connection() is None:
        if not current_app.extensions.get("inline_jobs_logged"):
            log.info("REDIS_URL is not set: background jobs run in process")
            current_app.extensions["inline_jobs_logged"] = True
        try:
            func(*args)
        except Exception as err:  # the request already committed; the sweeper retries
            db.session.rollback()
            log.warning("inline job %s failed: %s", func.__name__, type(err).__name__)
            return False
        return True
    try:
        rq_queue(queue).enqueue(func, *args, **{**JOB_DEFAULTS, **options})
        return True
    except RedisError as err:
        log.warning("could not queue %s (%s); the outbox keeps it", func.__name__, type(err).__name__)
        return False


def enqueue_unless_queued(mark: str, func, *args, mark_ttl_s: int = 300, **options) -> bool:
    """`enqueue`, unless a job queued under the Redis key `mark` has not
    started yet: that job will also do this caller's work, as long as it calls
    `clear_queued_mark(mark)` before it reads what there is to do, and the
    caller committed that work before calling this. The mark expires after
    `mark_ttl_s`, in case its job is lost; if Redis fails at the mark, the job
    is queued anyway."""
    connection = redis_connection()
    if connection is None:
        return enqueue(func, *args, **options)
    try:
        if not connection.set(mark, 1, nx=True, ex=mark_ttl_s):
            return True
    except RedisError as err:
        log.warning("could not mark %s as queued (%s); queueing it anyway", func.__name__, type(err).__name__)
        return enqueue(func, *args, **options)
    if enqueue(func, *args, **options):
        return True
    clear_queued_mark(mark)  # else later callers would wait for a job that does not exist
    return False


def clear_queued_mark(mark: str) -> None:
    """Called by a job marked by `enqueue_unless_queued` as the first thing it does."""
    connection = redis_connection()
    if connection is None:
        return
    try:
        connection.delete(mark)
    except RedisError as err:  # the mark expires; until then the outbox sweep queues what it holds back
        log.warning("could not clear the queued mark %s (%s)", mark, type(err).__name__)
