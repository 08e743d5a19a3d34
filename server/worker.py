"""The RQ worker process: long-lived, no fork per job.

A SimpleWorker runs jobs in its own process, so the app, the database pool
and the FCM connection are built once and reused by every job (the push path
depends on it). Each job runs in a fresh app context and the session is
removed after it.
"""
from __future__ import annotations

import logging
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker

from server.extensions import db, redis_connection
from server.garbage_collection import settle_long_lived_process
from server.queue import QUEUES

log = logging.getLogger(__name__)


class AppWorker(SimpleWorker):
    flask_app = None

    def execute_job(self, job, queue):
        with self.flask_app.app_context():
            try:
                return super().execute_job(job, queue)
            finally:
                db.session.remove()


def run_worker(app, queue_names=QUEUES, burst: bool = False, with_scheduler: bool = True) -> None:
    with app.app_context():
        connection = redis_connection()
    if connection is None:
        raise SystemExit("REDIS_URL is not set: there is nothing to work on (jobs run in process).")
    AppWorker.flask_app = app
    settle_long_lived_process()
    while True:
        # Redis going away must not end the process (nothing would process
        # uploads until someone restarted it): wait for it and start again.
        try:
            worker = AppWorker([Queue(name, connection=connection) for name in queue_names], connection=connection)
            worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=app.config["LOG_LEVEL"])
            return
        except RedisConnectionError:
            log.warning("Redis unavailable; the worker starts again when it answers")
            time.sleep(2)
