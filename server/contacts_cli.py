"""`flask import-contacts FILE --organization ID`: the API's CSV import, from a shell."""
from __future__ import annotations

import io
import os

import click
from flask import Flask


def register_contacts_cli(app: Flask) -> None:
    @app.cli.command("import-contacts")
    @click.argument("file", type=click.File("rb"))
    @click.option("--organization", "organization_id", type=int, required=True, help="organisation id")
    @click.option("--owner", "owner_id", type=int, default=None, help="user id owning the contacts (default: none)")
    def import_contacts(file, organization_id, owner_id):
        """Import CRM contacts from a CSV file (header name,company,email,source,phones)."""
        from mobile_sync.contacts_csv import default_workers, import_contacts_csv, import_owner
        from mobile_sync.errors import ServiceError
        from server.clock import now
        from server.extensions import db
        from mobile_sync.store.models import Organization

        org = db.session.get(Organization, organization_id)
        if org is None:
            raise click.ClickException(f"No organisation with id {organization_id}.")
        bars: dict[str, object] = {}
        open_bars: set[str] = set()

        def progress(stage: str, done: int, total: int) -> None:
            bar = bars.get(stage)
            if bar is None:
                bar = bars[stage] = click.progressbar(length=total, label=f"{stage:<8}", show_pos=True)
                bar.__enter__()
                open_bars.add(stage)
            bar.update(done - bar.pos)
            if done >= total and stage in open_bars:
                open_bars.discard(stage)
                bar.__exit__(None, None, None)

        try:
            size = os.fstat(file.fileno()).st_size if file.seekable() else None
        except (OSError, io.UnsupportedOperation):  # a pipe, or a test's in-memory file
            size = None
        try:
            owner = import_owner(db.session, organization_id, None, owner_id)
            # Streamed, and committed block by block: a failure keeps what was imported before it.
            report = import_contacts_csv(db.session, org=org, stream=file, owner_id=owner, region=None,
                                         hash_key=app.config["HASH_KEY"], now=now(), checkpoint=db.session.commit,
                                         size=size, progress=progress if size else None,
                                         workers=app.config.get("CSV_IMPORT_WORKERS") or default_workers())
            db.session.commit()
        except ServiceError as err:
            db.session.rollback()
            raise click.ClickException(err.message)
        finally:
            for stage in open_bars:
                bars[stage].__exit__(None, None, None)
        click.echo(f"imported {report.imported}, duplicates {report.duplicates}, failed {report.failed}")
        for error in report.errors:
            click.echo(f"line {error['line']}: {error['message']}", err=True)
        if report.failed > len(report.errors):
            click.echo(f"... and {report.failed - len(report.errors)} more failed lines", err=True)
