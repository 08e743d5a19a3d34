"""One error shape for every error: {"error": {code, message, fields?}}."""
from __future__ import annotations

import logging
import traceback

from flask import jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from mobile_sync.errors import ServiceError, forbidden, not_found  # noqa: F401
from mobile_sync.store.busy import is_database_busy

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_fields",
    429: "rate_limited",
    503: "service_unavailable",
}

# When a client whose request met a busy database should try again.
BUSY_RETRY_AFTER_S = 2


ApiError = ServiceError


def error_response(status: int, code: str, message: str, fields=None, headers=None):
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err.status, err.code, err.message, err.fields, err.headers)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        status = err.code or 500
        message = {
            404: "No such resource.",
            405: "Method not allowed on this path.",
            413: "The request body is too large.",
        }.get(status, err.description or err.name)
        headers = {}
        if status == 405 and err.get_response().headers.get("Allow"):
            headers["Allow"] = err.get_response().headers["Allow"]
        return error_response(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)

    @app.errorhandler(OperationalError)
    def _database_error(err: OperationalError):
        # The embedded SQLite file is written by one transaction at a time: a
        # request that waited the whole busy timeout for its turn is told to
        # come back, like a 429, rather than that something broke.
        if is_database_busy(err):
            log.warning("database busy: request answered 503")
            return error_response(503, "database_busy", "The service is busy; try again in a few seconds.",
                                  headers={"Retry-After": str(BUSY_RETRY_AFTER_S)})
        return _unexpected(err)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        # Type and code location only: exception messages (a database's
        # "Key (email)=(...) already exists") may quote client data.
        frames = traceback.extract_tb(err.__traceback__)[-6:]
        where = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}:{f.name}" for f in reversed(frames))
        log.error("unhandled %s at %s", type(err).__name__, where)
        if app.testing:  # kept in memory for the test that hit it, never logged
            app.extensions["last_unhandled_error"] = err
        return error_response(500, "internal_error", "Something went wrong on our side.")
