"""`flask` commands for operators."""
from __future__ import annotations

import click
from flask import Flask


def register_cli(app: Flask) -> None:
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
