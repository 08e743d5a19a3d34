"""`flask` commands for operators."""
from __future__ import annotations

import click
from flask import Flask


def register_cli(app: Flask) -> None:
    from server.backup_cli import register_backup_cli
    from server.contacts_cli import register_contacts_cli
    from server.data_cli import register_data_cli

    register_contacts_cli(app)
    register_data_cli(app)
    register_backup_cli(app)
    @app.cli.command("show-config")
    def show_config():
        """Print the effective configuration (secrets masked)."""
        for key in sorted(app.config):
            if key.isupper():
                value = app.config[key]
                if any(word in key for word in ("SECRET", "PASSWORD", "CREDENTIALS")) and value:
                    value = "***"
                if key in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "SMTP_URL") and value and "@" in str(value):
                    value = "***@" + str(value).rsplit("@", 1)[1]
                click.echo(f"{key}={value}")

    @app.cli.command("worker")
    @click.option("--queues", default="push,default,maintenance", help="comma-separated, in priority order")
    @click.option("--burst", is_flag=True, help="stop when the queues are empty")
    def worker(queues, burst):
        """Run an RQ worker (long-lived, no fork per job)."""
        from server.worker import run_worker

        run_worker(app, tuple(q for q in queues.split(",") if q), burst=burst)

    @app.cli.command("scheduler")
    def scheduler():
        """Run the periodic jobs of server/schedule.py (rq cron)."""
        from server.schedule import run_scheduler

        run_scheduler(app)

    @app.cli.command("sweep-outbox")
    @click.option("--min-age", default=0, help="only uploads older than this many seconds")
    def sweep(min_age):
        """Queue (or, without Redis, run) every upload not yet processed."""
        from server.jobs import sweep_outbox

        click.echo(f"{sweep_outbox(min_age)} uploads queued")

    @app.cli.command("purge")
    def purge():
        """Apply retention now: old calls, trial and closing organisations."""
        from server.jobs import run_retention

        for key, value in run_retention().items():
            click.echo(f"{key}: {value}")

    @app.cli.command("purge-pushes")
    @click.option("--batch-size", default=5000, help="rows deleted per transaction")
    def purge_pushes(batch_size):
        """Delete recorded pushes a week past their TTL now (the hourly job's work)."""
        from server.jobs import purge_push_messages

        click.echo(f"{purge_push_messages(batch_size)} recorded pushes deleted")

    @app.cli.command("push-sink")
    @click.option("--limit", default=20)
    def push_sink(limit):
        """Show the latest pushes recorded (what was, or would have been, sent)."""
        from sqlalchemy import select

        from server.extensions import db
        from mobile_sync.store.models import PushMessage

        rows = db.session.execute(select(PushMessage).order_by(PushMessage.id.desc()).limit(limit)).scalars()
        for row in rows:
            click.echo(f"{row.created_at:%Y-%m-%d %H:%M:%S} #{row.id} {row.kind:<18} device={row.device_id} "
                       f"status={row.status} attempts={row.attempts} data={row.data}")

    @app.cli.command("reports-rebuild")
    @click.option("--organization", type=int, default=None, help="only this organisation's id (default: all)")
    def reports_rebuild(organization):
        """Recompute the report rollups from the stored calls (after a time-zone change, or to repair);
        one transaction per organisation."""
        from sqlalchemy import select

        from mobile_sync.reports.rebuild import rebuild_reports
        from mobile_sync.store.models import Organization
        from server.extensions import db

        ids = [organization] if organization is not None else list(db.session.execute(
            select(Organization.id).order_by(Organization.id)).scalars())
        for organization_id in ids:
            if db.session.get(Organization, organization_id) is None:
                raise click.ClickException(f"No organisation {organization_id}.")
            users = rebuild_reports(db.session, organization_id)
            db.session.commit()
            click.echo(f"organisation {organization_id}: {users} users' days rebuilt")
