"""Errors the domain raises; the web edge renders them as the API's error shape."""
from __future__ import annotations


class ServiceError(Exception):
    """An error the client can act on: status, a snake_case code and a message."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}


def not_found(what: str = "resource") -> ServiceError:
    return ServiceError(404, "not_found", f"No such {what}.")


def forbidden(message: str = "You may not do this.") -> ServiceError:
    return ServiceError(403, "forbidden", message)


def conflict(code: str, message: str) -> ServiceError:
    return ServiceError(409, code, message)


def invalid(fields: dict, message: str = "Some fields are invalid.") -> ServiceError:
    return ServiceError(422, "invalid_fields", message, fields=fields)
