"""Health, the OpenAPI document and its human-readable page."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, render_template

from mobile_sync.store.health import ping
from server.api_docs import operations as api_operations
from server.extensions import db, redis_connection
from server.openapi import build_spec

bp = Blueprint("meta", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    """200 when the database (and Redis, where configured) answer."""
    checks = {}
    try:
        ping(db.session)
        checks["database"] = "ok"
    except Exception as err:  # the point of the endpoint is to report, not to raise
        log.warning("health: database unavailable (%s)", type(err).__name__)
        checks["database"] = "unavailable"
    if current_app.config.get("REDIS_URL"):
        try:
            redis_connection().ping()
            checks["redis"] = "ok"
        except Exception as err:
            log.warning("health: redis unavailable (%s)", type(err).__name__)
            checks["redis"] = "unavailable"
    ok = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if ok else "unavailable", "checks": checks}), 200 if ok else 503


def _spec() -> dict:
    spec = current_app.extensions.get("openapi_spec")
    if spec is None:
        spec = current_app.extensions["openapi_spec"] = build_spec()
    return spec


@bp.get("/api/v1/openapi.json")
def openapi_json():
    """The OpenAPI 3 document of this API."""
    return jsonify(_spec())


@bp.get("/api/v1/docs")
def api_docs():
    """A readable page of every operation, generated from the same document."""
    spec = _spec()
    return render_template("api_docs.html", spec=spec, operations=api_operations(spec))
