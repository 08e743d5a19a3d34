"""The app factory proper (see `server.create_app`)."""
from __future__ import annotations

import logging

from flask import Flask

from mobile_sync.store.engine_setup import configure_engine, engine_options
from mobile_sync.store.statistics import refresh_statistics
from server.config import is_production, load_config
from server.errors import register_error_handlers
from server.extensions import MIGRATIONS, db, migrate
from server.log_privacy import configure_logging

log = logging.getLogger(__name__)



def _check_production(app: Flask) -> None:
    if not is_production(app.config):
        return
    problems = []
    if not app.config.get("REDIS_URL"):
        problems.append("REDIS_URL is required in production (jobs must not run inside web requests)")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        problems.append("DATABASE_URL must point to PostgreSQL in production")
    if problems:
        raise RuntimeError("Refusing to start: " + "; ".join(problems))


def build_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="templates")
    app.config.update(load_config())
    if config:
        app.config.update(config)
    app.config["HASH_KEY"] = app.config.get("HASH_KEY") or app.config["SECRET_KEY"]
    configure_logging(app.config["LOG_LEVEL"])
    _check_production(app)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    with app.app_context():
        configure_engine(db.engine, busy_timeout_ms=int(app.config.get("SQLITE_BUSY_TIMEOUT_MS", 30_000)))
        # The planner's statistics, for what changed while the service was
        # down (an import, a migration's new index); a busy file is left for later.
        refresh_statistics(db.engine, wait_ms=1000)
    if app.config.get("TRUST_PROXY"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    register_error_handlers(app)
    _register_blueprints(app)
    from server.metrics import init_metrics

    init_metrics(app)
    from server.cli import register_cli

    register_cli(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from server.api import (
        accounts, caller_id, calls, contacts, data_rights, devices, leads, meta, organization, profile, settings, sync,
    )
    from server.web import views as web

    for module in (meta, accounts, profile, settings, organization, devices, sync, caller_id, calls, contacts, leads,
                   data_rights, web):
        app.register_blueprint(module.bp)
    from server.api import suppressions
    app.register_blueprint(suppressions.bp)
    from server.api import reports
    app.register_blueprint(reports.bp)
    from server.api import webhooks
    app.register_blueprint(webhooks.bp)
    from server.api import private_numbers
    app.register_blueprint(private_numbers.bp)
    from server.api import integrations
    app.register_blueprint(integrations.bp)
