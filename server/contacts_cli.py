"""`flask import-contacts FILE --organization ID`: the API's contact import
(CSV, Google/Outlook/HubSpot/Pipedrive CSV, vCard, .xlsx), from a shell."""
from __future__ import annotations

import io
import json
import os

import click
from flask import Flask


def register_contacts_cli(app: Flask) -> None:
    @app.cli.command("import-contacts")
    @click.argument("file", type=click.File("rb"))
    @click.option("--organization", "organization_id", type=int, required=True, help="organisation id")
    @click.option("--owner", "owner_id", type=int, default=None, help="user id owning the contacts (default: none)")
    @click.option("--mapping", default=None, help='JSON object, column -> field, e.g. {"Cell": "phones"}')
    @click.option("--dry-run", is_flag=True, help="read the whole file and say what would be imported; store nothing")
    def import_contacts(file, organization_id, owner_id, mapping, dry_run):
        """Import CRM contacts from a file: our CSV (name,company,email,source,phones), a Google, Outlook,
        HubSpot or Pipedrive CSV export, vCard or .xlsx; the format is told from the content."""
        from marshmallow import ValidationError

        from mobile_sync.contacts_csv import default_workers, import_contact_file, import_owner
        from mobile_sync.errors import ServiceError
        from server.clock import now
        from server.extensions import db
        from mobile_sync.store.models import Organization
        from schemas.contacts import ImportMapping

        if mapping is not None:
            try:
                mapping = ImportMapping().deserialize(mapping)
            except ValidationError as err:
                raise click.BadParameter(" ".join(err.messages), param_hint="--mapping")

        org = db.session.get(Organization, organization_id)
        if org is None:
            raise click.ClickException(f"No organisation with id {organization_id}.")
        bars: dict[str, object] = {}
        open_bars: set[str] = set()

        def progress(stage: str, done: int, total: int, _report=None) -> None:
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
            report = import_contact_file(db.session, org=org, stream=file, owner_id=owner, region=None,
                                         hash_key=app.config["HASH_KEY"], now=now(), checkpoint=db.session.commit,
                                         size=size, progress=progress if size else None, mapping=mapping,
                                         dry_run=dry_run,
                                         workers=app.config.get("CSV_IMPORT_WORKERS") or default_workers())
            db.session.commit()
        except ServiceError as err:
            db.session.rollback()
            details = [m for messages in (err.fields or {}).values() if isinstance(messages, list)
                       for m in messages if m != err.message]
            raise click.ClickException(" ".join([err.message, *details[:5]]))
        finally:
            for stage in open_bars:
                bars[stage].__exit__(None, None, None)
        click.echo(f"format {report.format}; mapping {json.dumps(report.mapping, ensure_ascii=False)}")
        click.echo(("dry run: would import " if dry_run else "imported ") +
                   f"{report.imported}, duplicates {report.duplicates}, failed {report.failed}")
        for error in report.errors:
            click.echo(f"line {error['line']}: {error['message']}", err=True)
        if report.failed > len(report.errors):
            click.echo(f"... and {report.failed - len(report.errors)} more failed lines", err=True)
