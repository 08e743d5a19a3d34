"""The readable API reference (`/api/v1/docs`), read off the OpenAPI document:
per operation its parameters, its body's fields, what it answers, and an
example request, so an integrator needs nothing but this page."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

_REF = "#/components/schemas/"
# Example values by format or type, for the example request's body.
_EXAMPLES = {"date-time": "2026-11-20T09:30:00+05:30", "date": "2026-11-20", "email": "asha@example.com",
             "uuid": "3f0c6a52-3c2e-4a8b-9d55-0c1f4b8e2a10"}
_BY_NAME = {"phone": "+91 98765 43210", "number": "+91 98765 43210", "name": "Asha Rao", "company": "Rao Traders",
            "region": "IN", "password": "correct horse battery", "policy_version": "2026-11-01",
            "batch_id": "2026-11-20-1"}


@dataclass
class Field:
    name: str
    kind: str
    required: bool
    notes: str = ""


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    auth: str
    parameters: list[Field] = field(default_factory=list)
    body_name: str | None = None
    body_type: str | None = None
    body: list[Field] = field(default_factory=list)
    answers: list[tuple[str, str]] = field(default_factory=list)
    example: str = ""


def _schema(spec: dict, schema: dict | None) -> tuple[str | None, dict]:
    """(component name or None, the schema itself) of a schema or a reference to one."""
    schema = schema or {}
    ref = schema.get("$ref")
    if ref and ref.startswith(_REF):
        name = ref[len(_REF):]
        return name, spec["components"]["schemas"].get(name, {})
    return None, schema


def _kind(prop: dict) -> str:
    if "$ref" in prop:
        return prop["$ref"][len(_REF):]
    kind = prop.get("type", "object")
    if kind == "array":
        return f"list of {_kind(prop.get('items', {}))}"
    return f"{kind} ({prop['format']})" if prop.get("format") else kind


def _notes(prop: dict) -> str:
    notes = []
    if prop.get("enum"):
        notes.append("one of " + ", ".join(str(v) for v in prop["enum"] if v is not None))
    if "minimum" in prop or "maximum" in prop:
        notes.append(f"{prop.get('minimum', '')}…{prop.get('maximum', '')}")
    if "maxLength" in prop:
        notes.append(f"at most {prop['maxLength']} characters")
    if "maxItems" in prop:
        notes.append(f"at most {prop['maxItems']} items")
    if prop.get("nullable"):
        notes.append("may be null")
    if prop.get("default") not in (None, ""):
        notes.append(f"default {prop['default']}")
    if prop.get("description"):
        notes.append(prop["description"])
    return "; ".join(notes)


def _fields(schema: dict) -> list[Field]:
    required = set(schema.get("required") or [])
    return [Field(name, _kind(prop), name in required, _notes(prop))
            for name, prop in sorted((schema.get("properties") or {}).items(), key=lambda kv: kv[0] not in required)]


def _example(spec: dict, prop: dict, name: str = "", depth: int = 0):
    _, prop = _schema(spec, prop)
    if prop.get("enum"):
        return next(v for v in prop["enum"] if v is not None)
    if name in _BY_NAME:
        return _BY_NAME[name]
    kind = prop.get("type", "object")
    if kind == "object" or "properties" in prop:
        if depth > 2:
            return {}
        required = prop.get("required") or list(prop.get("properties") or {})[:3]
        return {key: _example(spec, prop["properties"][key], key, depth + 1)
                for key in required if key in (prop.get("properties") or {})}
    if kind == "array":
        return [_example(spec, prop.get("items", {}), name, depth + 1)] if depth < 3 else []
    if kind == "integer":
        return max(1, prop.get("minimum", 1))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return _EXAMPLES.get(prop.get("format"), "text")


def _auth(spec: dict, op: dict) -> str:
    schemes = spec["components"].get("securitySchemes", {})
    names = [schemes.get(name, {}).get("description", name).lower() for option in op.get("security") or []
             for name in option]
    text = " or ".join(names)
    return text[:1].upper() + text[1:] if text else "none"


def operations(spec: dict) -> list[Operation]:
    """Every operation of the document, in path order."""
    out = []
    for path, item in sorted(spec["paths"].items()):
        for method, op in sorted(item.items()):
            entry = Operation(method.upper(), path, op.get("operationId", f"{method}-{path}"),
                              op.get("summary", ""), _auth(spec, op))
            for param in op.get("parameters", []):
                entry.parameters.append(Field(f"{param['name']} ({param['in']})", _kind(param.get("schema", {})),
                                              bool(param.get("required")), _notes(param.get("schema", {}))))
            body = None
            for content_type, content in (op.get("requestBody") or {}).get("content", {}).items():
                entry.body_type = content_type
                entry.body_name, schema = _schema(spec, content.get("schema"))
                entry.body = _fields(schema)
                if content_type == "application/json":
                    body = _example(spec, schema)
            for code, answer in sorted(op.get("responses", {}).items()):
                name, _ = _schema(spec, (answer.get("content", {}).get("application/json") or {}).get("schema"))
                entry.answers.append((code, name or answer.get("description", "")))
            example = path
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    example = example.replace("{" + param["name"] + "}", "1")
            lines = [f"curl -X {entry.method} http://127.0.0.1:8000{example}"]
            if entry.auth != "none":
                lines.append('-H "Authorization: Bearer $TOKEN"')
            if body is not None:
                lines += ["-H 'Content-Type: application/json'",
                          "-d '" + json.dumps(body, ensure_ascii=False).replace("'", "'\\''") + "'"]
            entry.example = " \\\n  ".join(lines)
            out.append(entry)
    return out
