"""Periodic jobs, declared as data and run by `flask scheduler` (rq cron)."""
from __future__ import annotations

from server import jobs

# (function, queue, interval in seconds or None, cron string or None)
SCHEDULE = [
    (jobs.sweep_outbox, "maintenance", 60, None),
    (jobs.flush_audit_events, "maintenance", 5, None),
    (jobs.run_retention, "maintenance", None, "30 1 * * *"),
]


def run_scheduler(app) -> None:
    from rq.cron import CronScheduler

    from server.extensions import redis_connection

    with app.app_context():
        connection = redis_connection()
    if connection is None:
        raise SystemExit("REDIS_URL is not set: the scheduler needs Redis.")
    scheduler = CronScheduler(connection=connection, logging_level=app.config["LOG_LEVEL"])
    for func, queue, interval, cron in SCHEDULE:
        scheduler.register(func, queue_name=queue, interval=interval, cron=cron, failure_ttl=7 * 86400)
    scheduler.start()
