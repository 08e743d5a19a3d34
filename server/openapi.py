"""The OpenAPI 3 document, generated from the declared operations and their
marshmallow schemas (apispec), so the contract and the code cannot drift."""
from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls

from schemas.errors import ErrorSchema
from server.api.routing import MAX_PATH_ID, OPERATIONS
from server.auth import ANY, API_KEY_AUTH, DEVICE, PUBLIC, USER

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERRORS = {
    "400": "Malformed request",
    "401": "Missing or invalid credentials",
    "403": "Forbidden, or consent missing",
    "404": "Not found, or not yours",
    "409": "Conflict",
    "413": "Too large",
    "422": "Invalid fields",
    "429": "Rate limited (see Retry-After)",
}
_SECURITY = {
    PUBLIC: [],
    USER: [{"userToken": []}],
    ANY: [{"userToken": []}, {"deviceToken": []}],
    DEVICE: [{"deviceToken": []}],
    API_KEY_AUTH: [{"apiKey": []}],
}


def _path_and_params(rule: str):
    params = []

    def replace(match):
        converter, name = match.group(1) or "string", match.group(2)
        schema = ({"type": "integer", "minimum": 0, "maximum": MAX_PATH_ID} if converter == "int"
                  else {"type": "string"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _CONVERTER.sub(replace, rule), params


def _schema_name(schema) -> str:
    name = resolve_schema_cls(schema).__name__
    return name[:-6] if name.endswith("Schema") else name


def build_spec() -> dict:
    spec = APISpec(title="CallSync API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
                   info={"description": "The phone app's contract: see shared/API.md."})
    spec.components.security_scheme("userToken", {"type": "http", "scheme": "bearer",
                                                  "description": "A user's token"})
    spec.components.security_scheme("deviceToken", {"type": "http", "scheme": "bearer",
                                                    "description": "A phone's device token"})
    spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer",
                                               "description": "An organisation API key"})
    spec.components.schema("Error", schema=ErrorSchema)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        path, params = _path_and_params(op.rule)
        entry = {
            "operationId": op.endpoint.replace(".", "_"),
            "summary": op.summary,
            "tags": op.tags,
            "security": _SECURITY[op.auth],
            "parameters": params,
            "responses": {},
        }
        if op.query is not None:
            entry["parameters"] = params + [{"in": "query", "schema": op.query}]
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
        elif op.request_content_type != "application/json":
            entry["requestBody"] = {"required": True,
                                    "content": {op.request_content_type: {"schema": {"type": "string"}}}}
        ok = {"description": "Success"}
        if op.status != 204 and op.response is not None:
            ok["content"] = {"application/json": {"schema": op.response}}
        entry["responses"][str(op.status)] = ok
        entry["responses"].update(op.responses)
        for code, text in _ERRORS.items():
            entry["responses"].setdefault(code, {"description": text, "content": {
                "application/json": {"schema": "Error"}}})
        if op.roles:
            entry["description"] = "Roles: " + ", ".join(op.roles)
        paths.setdefault(path, {})[op.method.lower()] = entry
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
