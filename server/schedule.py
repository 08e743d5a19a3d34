"""Periodic jobs, declared as data and run by `flask scheduler` (rq cron)."""
from __future__ import annotations

from server import backups, crm_delivery, jobs, webhook_delivery

# (function, queue, interval in seconds or None, cron string or None, job timeout in seconds)
# The outbox sweep runs every 10 s: a ringing push left queued by a web process
# that died between its commit and its send lives 30 s, so a sweep a minute
# would usually find it expired. (Uploads are queued again after 60 s.)
SCHEDULE = [
    (jobs.sweep_outbox, "maintenance", 10, None, 600),
    (jobs.flush_audit_events, "maintenance", 5, None, 120),
    # Webhook deliveries a killed worker or a Redis outage left behind, and
    # retries that came due, are queued again.
    (webhook_delivery.sweep_webhooks, "maintenance", 30, None, 600),
    # CRM pushes left behind or come due, and CRM pulls that are due (every N hours, asked for, half-done).
    (crm_delivery.sweep_crm, "maintenance", 30, None, 600),
    (jobs.run_retention, "maintenance", None, "30 1 * * *", 3600),
    # Hourly, so each run deletes about an hour of pushes, in batches.
    (jobs.purge_push_messages, "maintenance", None, "10 * * * *", 1800),
    (backups.backup_job, "maintenance", None, "15 2 * * *", 3600),
    # Hourly: phones that stopped syncing are asked to open the app (once a
    # day each) and each organisation's managers get one digest a day.
    (jobs.check_silent_phones, "maintenance", None, "20 * * * *", 1800),
]


def run_scheduler(app) -> None:
    from rq.cron import CronScheduler

    from server.extensions import redis_connection

    with app.app_context():
        connection = redis_connection()
    if connection is None:
        raise SystemExit("REDIS_URL is not set: the scheduler needs Redis.")
    scheduler = CronScheduler(connection=connection, logging_level=app.config["LOG_LEVEL"])
    for func, queue, interval, cron, timeout in SCHEDULE:
        scheduler.register(func, queue_name=queue, interval=interval, cron=cron, job_timeout=timeout,
                           failure_ttl=7 * 86400)
    scheduler.start()
