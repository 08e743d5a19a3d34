"""The OpenAPI 3 document, generated from the declared operations and their
marshmallow schemas (apispec), so the contract and the code cannot drift.

Responses carry OpenAPI `links` (what a client may call next with the ids it
was just given), derived from the route table: see `build_links`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import fields as mf

from schemas.errors import ErrorSchema
from schemas.webhooks import webhooks_section
from schemas.sync import (CallBatchSchema, CallRowSchema, ContactBatchSchema, ContactRowSchema,
                          DeletedContactSchema)
from server.api.routing import MAX_PATH_ID, OPERATIONS, Operation
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
# Lists of raw rows that the ingest loads one row at a time (a bad row is
# reported by its index, the rest of the batch kept): the document shows each
# row's schema as the list's items.
ROW_SCHEMAS = {
    (CallBatchSchema, "calls"): CallRowSchema,
    (ContactBatchSchema, "contacts"): ContactRowSchema,
    (ContactBatchSchema, "deleted"): DeletedContactSchema,
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
                   info={"description": "The contract the phone app, the manager's browser and integrators are "
                                        "built against (docs/api.md in the source)."})
    spec.components.security_scheme("userToken", {"type": "http", "scheme": "bearer",
                                                  "description": "A user's token"})
    spec.components.security_scheme("deviceToken", {"type": "http", "scheme": "bearer",
                                                    "description": "A phone's device token"})
    spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer",
                                               "description": "An organisation API key"})
    spec.components.schema("Error", schema=ErrorSchema)
    for row in ROW_SCHEMAS.values():
        spec.components.schema(_schema_name(row), schema=row)
    paths: dict[str, dict] = {}
    op_links = build_links(OPERATIONS)
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
                                    "content": {op.request_content_type: {"schema": {"type": "string"}},
                                                **{kind: {"schema": schema}
                                                   for kind, schema in op.request_bodies.items()}}}
        ok = {"description": "Success"}
        if op.status != 204 and op.response is not None:
            ok["content"] = {"application/json": {"schema": op.response}}
        links = op_links.get(op.endpoint)
        if links:
            ok["links"] = links
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
    # What the service sends (Standard Webhooks): registered before to_dict so the bodies' schemas are in it.
    outgoing = webhooks_section(spec)
    document = spec.to_dict()
    document["x-webhooks"] = outgoing
    for (batch, name), row in ROW_SCHEMAS.items():
        listed = document["components"]["schemas"][_schema_name(batch)]["properties"][name]
        listed["items"] = {"$ref": f"#/components/schemas/{_schema_name(row)}"}
    return document


# --------------------------------------------------------------------- links
#
# An item route is `<collection>/<id>[/...]`: `/leads/<int:lead_id>/approve`
# acts on an object of `/leads`. Its id can come from
#   1. the same object's other routes (`$request.path.lead_id`: PATCH, then GET;
#      DELETE, then GET, which must then be 404),
#   2. the collection's create (`POST /leads` answers `id`, or `lead_id`),
#   3. the collection's list (`GET /leads` answers `items[].id`), or
#   4. any answer with fields named like every path parameter of the target
#      (`POST /signup` answers `user_id`; a note answers `record_type` and `record_id`).
# Two facts the route table cannot show are declared here instead.

# A path that is one object of a collection under another name.
SAME_OBJECT_AS = {"/api/v1/me": "/api/v1/users"}
# Path parameters naming an object of other collections, with the constant path
# parameters that say which: a note hangs on a lead or a contact.
REFERS_TO = {
    ("/api/v1/records/<string:record_type>", "record_id"): [
        ("/api/v1/leads", {"record_type": "lead"}),
        ("/api/v1/contacts", {"record_type": "contact"}),
    ],
}


@dataclass(frozen=True)
class _Item:
    """A path parameter of a rule: the collection it names an object of."""

    name: str
    collection: str  # the rule up to the parameter


def _items(rule: str) -> list[_Item]:
    return [_Item(m.group(2), rule[:m.start()].rstrip("/")) for m in _CONVERTER.finditer(rule)]


def _fields(schema) -> dict[str, mf.Field]:
    """The fields a response schema answers, by their JSON name."""
    return {} if schema is None else _fields_of(resolve_schema_cls(schema))


@lru_cache(maxsize=None)
def _fields_of(schema_cls) -> dict[str, mf.Field]:
    return {f.data_key or name: f for name, f in schema_cls().fields.items() if not f.load_only}


def _list_item_fields(schema) -> dict[str, mf.Field]:
    items = _fields(schema).get("items")
    if isinstance(items, mf.List) and isinstance(items.inner, mf.Nested):
        return _fields(items.inner.nested)
    return {}


def _operation_id(op: Operation) -> str:
    return op.endpoint.replace(".", "_")


def _id_sources(source: Operation, item: _Item) -> list[tuple[str, dict]]:
    """Expressions by which `source`'s success gives an id of `item`'s collection,
    each with the constant path parameters that go with it."""
    found = []
    targets = [(item.collection, {})] + REFERS_TO.get((item.collection, item.name), [])
    answered = _fields(source.response)
    for collection, constants in targets:
        # 1. the same object: one of its own routes
        for own in _items(source.rule):
            if own.collection == collection:
                found.append((f"$request.path.{own.name}", constants))
        # 2. a create on the collection, or a path that is one of its objects
        if (source.method == "POST" and source.rule == collection) or SAME_OBJECT_AS.get(source.rule) == collection:
            for key in (item.name, "id"):
                if key in answered:
                    found.append((f"$response.body#/{key}", constants))
                    break
        # 3. the collection's list
        if source.method == "GET" and source.rule == collection and "id" in _list_item_fields(source.response):
            found.append(("$response.body#/items/0/id", constants))
    return found


def _link(source: Operation, target: Operation) -> dict | None:
    """The link from `source`'s success to `target`, or None when the route
    table shows no way to fill `target`'s path from it."""
    items = _items(target.rule)
    if not items:
        return None
    answered = _fields(source.response)
    parameters: dict = {}
    for item in reversed(items):  # the innermost first: it may fix an outer one (record_type)
        if item.name in parameters:
            continue
        options = _id_sources(source, item)
        if not options and item.name in answered and source.status != 204:
            options = [(f"$response.body#/{item.name}", {})]  # 4. a field of the same name
        if not options:
            return None
        expression, constants = options[0]
        parameters[item.name] = expression
        parameters.update(constants)
    return {"operationId": _operation_id(target), "parameters": parameters}


def build_links(operations: list[Operation]) -> dict[str, dict]:
    """{source endpoint: {link name: OpenAPI link}} for every pair of operations
    the route table connects (a source never links to itself)."""
    out: dict[str, dict] = {}
    for source in operations:
        for target in operations:
            if target is source:
                continue
            link = _link(source, target)
            if link is not None:
                out.setdefault(source.endpoint, {})[_operation_id(target)] = link
    return out
