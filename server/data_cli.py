"""`flask export`, `flask import-export`, `flask erase`: data rights from a shell.

Each is recorded in the access audit as the work of an operator (no user).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import click
from flask import Flask


@dataclass
class Operator:
    """The actor of a command run from a shell, for the access audit."""

    organization_id: int
    kind: str = "operator"
    user: object = None
    device: object = None
    api_key: object = None


def _audit(organization_id: int, action: str, object_type: str | None, object_id: int | None, count: int) -> None:
    """Record the command in the access audit, in its own committed transaction."""
    from server.audit import push_pending_events, record_access
    from server.extensions import db

    record_access(Operator(organization_id), action, object_type, object_id, count)
    db.session.commit()
    push_pending_events()


class _Bar:
    """A click progress bar driven by (done, total) callbacks."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=max(total, 1), label=self.label, show_pos=True,
                                         file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(max(0, done - self.bar.pos))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def register_data_cli(app: Flask) -> None:
    @app.cli.command("export")
    @click.option("--organization", "organization_id", type=int, required=True, help="organisation id")
    @click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), required=True,
                  help="the zip file to write")
    def export_command(organization_id, out_path):
        """Export an organisation's complete data as a zip (JSON Lines and CSV per table)."""
        from mobile_sync.errors import ServiceError
        from mobile_sync.export_data import write_export
        from server.clock import now
        from server.extensions import db

        partial = out_path + ".partial"
        bar = _Bar("exporting")
        try:
            with open(partial, "wb") as out:
                manifest = write_export(db.session, organization_id=organization_id, out=out,
                                        hash_key=app.config["HASH_KEY"], now=now(), progress=bar)
            os.replace(partial, out_path)
        except ServiceError as err:
            raise click.ClickException(err.message)
        finally:
            bar.close()
            if os.path.exists(partial):
                os.remove(partial)
        _audit(organization_id, "organization.export", "organization", organization_id, manifest["total_rows"])
        click.echo(f"wrote {out_path}: {manifest['total_rows']} rows in {len(manifest['tables'])} tables")
        left_out = ", ".join(f"{t}.{c}" for t, cols in manifest["omitted_columns"].items() for c in cols)
        click.echo(f"secrets left out: {left_out}")

    @app.cli.command("import-export")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--organization", "organization_id", type=int, required=True,
                  help="the empty organisation to restore into")
    @click.option("--create", is_flag=True,
                  help="create the organisation with this id (it must not exist); use the export's own id to "
                       "keep phone-book, suppression and erased-number hashes valid")
    @click.option("--forget-erasures", is_flag=True,
                  help="import even if the export's erased numbers cannot be carried over (they are lost)")
    @click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
    def import_command(file, organization_id, create, forget_erasures, as_json):
        """Restore an export into an empty organisation, with new ids.

        Users come back without a password: they cannot log in until an admin
        invites them again. Phones register again; API keys are created again.
        """
        from mobile_sync.errors import ServiceError
        from mobile_sync.import_data import import_export
        from server.clock import now
        from server.extensions import db

        bar = _Bar("importing")
        try:
            report = import_export(db.session, source=file, organization_id=organization_id,
                                   hash_key=app.config["HASH_KEY"], now=now(), create=create,
                                   forget_erasures=forget_erasures, progress=bar)
            db.session.commit()
        except ServiceError as err:
            db.session.rollback()
            raise click.ClickException(err.message)
        finally:
            bar.close()
        _audit(organization_id, "organization.import", "organization", organization_id, report.total)
        if as_json:
            click.echo(json.dumps(report.as_dict(), indent=2))
        else:
            for line in report.lines():
                click.echo(line)

    @app.cli.command("erase")
    @click.option("--organization", "organization_id", type=int, required=True, help="organisation id")
    @click.option("--phone", help="the number to erase (read with the organisation's region); '-' reads it "
                                  "from standard input, which keeps it out of the shell's history")
    @click.option("--record-type", type=click.Choice(["contact", "lead"]), help="erase this record ...")
    @click.option("--record-id", type=int, help="... with this id")
    def erase_command(organization_id, phone, record_type, record_id):
        """Erase a person by number or by record, keeping only a salted hash of each number."""
        from mobile_sync import erasure
        from mobile_sync.errors import ServiceError
        from server.clock import now
        from server.extensions import db
        from mobile_sync.store.models import Organization

        if bool(phone) == bool(record_type or record_id) or bool(record_type) != bool(record_id):
            raise click.UsageError("Give --phone, or --record-type with --record-id.")
        if phone == "-":
            phone = sys.stdin.readline().strip()
        org = db.session.get(Organization, organization_id)
        if org is None:
            raise click.ClickException(f"No organisation with id {organization_id}.")
        try:
            if phone:
                result = erasure.erase_phone(db.session, org=org, raw_phone=phone, region=None,
                                             hash_key=app.config["HASH_KEY"], now=now())
            else:
                result = erasure.erase_record(db.session, org=org, record_type=record_type, record_id=record_id,
                                              hash_key=app.config["HASH_KEY"], now=now())
            db.session.commit()
        except ServiceError as err:
            db.session.rollback()
            raise click.ClickException(err.message)
        _audit(organization_id, "person.erase", result.record_type or "phone", result.record_id,
               result.total_deleted)
        click.echo(f"erased {result.numbers_erased} number(s); deleted {result.total_deleted} rows")
        for table, count in sorted(result.deleted.items()):
            if count:
                click.echo(f"  {table}: {count}")
        for table, count in sorted(result.redacted.items()):
            if count:
                click.echo(f"  {table}: {count} kept with the number blanked out")
