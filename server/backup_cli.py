"""`flask backup` and `flask restore`; the work is done in `server.backups` and `server.backup_restore`."""
from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.engine import make_url


def _code_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    from server.extensions import MIGRATIONS

    return set(ScriptDirectory(MIGRATIONS).get_heads())


def register_backup_cli(app) -> None:
    @app.cli.command("backup")
    @click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
                  help="where backups go (default: BACKUP_DIR, else DATA_DIR/backups)")
    @click.option("--keep", type=click.IntRange(min=1), default=None,
                  help="days of backups to keep (default: BACKUP_KEEP, else 14)")
    def backup(directory, keep):
        """Back the database up (SQLite backup API / pg_dump) and prune old backups."""
        from server.backups import BackupError, run_backup

        try:
            path, pruned = run_backup(directory, keep)
        except BackupError as err:
            raise click.ClickException(str(err))
        click.echo(f"backup written: {path}")
        for old in pruned:
            click.echo(f"pruned: {old.name}")

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="do not ask for confirmation")
    def restore(file, yes):
        """Replace the database with a backup, then check every table against its manifest.

        Stop the web and worker processes first.
        """
        from server.backup_restore import run_restore
        from server.backups import BackupError

        target = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)

        def confirm(manifest):
            click.echo(f"{file.name}: SHA-256 verified; taken {manifest['created_at']}, "
                       f"{len(manifest['tables'])} tables")
            if not yes:
                click.confirm(f"Replace all data in {target} with it?", abort=True)

        try:
            manifest, checks = run_restore(file, confirm)
        except BackupError as err:
            raise click.ClickException(str(err))
        click.echo(f"restored into {target}")
        for check in checks:
            click.echo(check.describe())
        wrong = [c for c in checks if not c.ok]
        if wrong:
            raise click.ClickException(f"{len(wrong)} of {len(checks)} tables differ from the backup's manifest")
        click.echo(f"all {len(checks)} tables match the manifest")
        revision = manifest.get("alembic_revision")
        if revision and revision not in _code_heads():
            click.echo(f"the backup's schema revision is {revision}; run `flask db upgrade` "
                       "before starting the app")
