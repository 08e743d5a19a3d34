"""The one error shape, for every kind of bad input: malformed, deeply nested
and oversized bodies to every operation that reads one, and ids past what the
database can hold."""
from __future__ import annotations

import json

import pytest

from server.api.routing import OPERATIONS
from server.auth import PUBLIC
from tests.security.route_requests import ObjectFinder, creator_headers, sample_body
from tests.security.tenants import build_org

READS_A_BODY = [op for op in OPERATIONS if op.body is not None or op.request_content_type != "application/json"]


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/signup", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": {"code": "malformed_json", "message": "The body is not valid JSON."}}


def test_deeply_nested_json_is_a_clean_400_or_422(client):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/signup", data=body, content_type="application/json")
    assert response.status_code in (400, 422)
    assert "error" in response.json


def test_unknown_fields_are_rejected_with_per_field_messages(client):
    response = client.post("/api/v1/signup", json={"organization": "A", "region": "IN", "name": "B",
                                                   "email": "b@example.test", "password": "long enough pw",
                                                   "role": "admin", "organization_id": 7})
    assert response.status_code == 422
    assert response.json["error"]["fields"] == {"role": ["Unknown field."], "organization_id": ["Unknown field."]}


def test_wrong_types_and_nul_bytes_are_422(client):
    response = client.post("/api/v1/signup", json={"organization": "A\x00", "region": 5, "name": [],
                                                   "email": "nope", "password": None})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"organization", "region", "name", "email", "password"}


def test_unknown_path_and_method_use_the_error_shape(client):
    assert client.get("/api/v1/nowhere").json["error"]["code"] == "not_found"
    response = client.delete("/api/v1/signup")
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"


def test_oversized_body_is_413(client, clean_app):
    response = client.post("/api/v1/signup", data=b"{" + b" " * (clean_app.config["MAX_CONTENT_LENGTH"] + 10) + b"}",
                           content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


@pytest.fixture
def org(client, make_org, make_user, make_device):
    return build_org(client, make_org, make_user, make_device, "Bad Input Org")


def _send(client, org, op, **kwargs):
    path = ObjectFinder(client).fill(org, op.rule, {"device_id": org.admin.device_id})
    assert path is not None
    headers = {} if op.auth == PUBLIC else creator_headers(op, org)
    return client.open(path, method=op.method, headers=headers, **kwargs)


def _problem(response, allowed: tuple[int, ...]) -> str | None:
    body = response.get_json(silent=True) or {}
    if response.status_code not in allowed or not isinstance(body.get("error", {}).get("code"), str):
        return f"{response.status_code} {response.data[:200]!r}"
    return None


_DEEP = "__deep__"


def test_deeply_nested_json_to_every_operation_is_a_clean_4xx(client, org):
    too_deep = "[" * 100_000 + "]" * 100_000  # past the parser's recursion limit
    # 500 levels: parses, then meets the schema. Written as text: json.dumps of it
    # recurses 1,000 deep, past Python's limit when the test's own stack is deep.
    deep = '{"x": [' * 500 + "null" + "]}" * 500
    failures = []
    for op in READS_A_BODY:
        content_type = op.request_content_type
        for label, data in (("too deep", too_deep), ("deep", None)):
            if data is None:
                body = {**(sample_body(op.body(), org, op.endpoint) if op.body else {}), "x": _DEEP}
                for key in list(body)[:1]:
                    body[key] = _DEEP  # in place of a real field too
                response = _send(client, org, op, data=json.dumps(body).replace(f'"{_DEEP}"', deep),
                                 content_type="application/json")
            else:
                response = _send(client, org, op, data=data, content_type=content_type)
            problem = _problem(response, (400, 413, 415, 422))
            if problem and not (content_type == "text/csv" and response.status_code == 200):
                failures.append(f"{op.method} {op.rule} ({label}): {problem}")
    assert not failures, "\n".join(failures)


def test_a_body_over_the_limit_is_413_on_every_operation(client, clean_app, org):
    limit = 64 * 1024
    clean_app.config.update({"MAX_CONTENT_LENGTH": limit, "CSV_IMPORT_MAX_BYTES": limit})
    failures = []
    for op in READS_A_BODY:
        if op.request_content_type == "application/json":
            data = b'{"name": "' + b"x" * (limit + 10) + b'"}'
        else:
            data = b"name,company,email,source,phones\n" + b"x," * (limit // 2)
        response = _send(client, org, op, data=data, content_type=op.request_content_type)
        if _problem(response, (413,)) or response.json["error"]["code"] != "payload_too_large":
            failures.append(f"{op.method} {op.rule}: {response.status_code} {response.data[:200]!r}")
    assert not failures, "\n".join(failures)


def test_a_directory_cursor_past_the_databases_integers_is_refused(client, org):
    for cursor in ("2147483648", "r9480368522", "9999999999"):
        response = org.admin.get("/api/v1/directory", device=True, query_string={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.status_code)
        assert response.json["error"]["fields"] == {"cursor": ["Not a directory cursor."]}
    assert org.admin.get("/api/v1/directory", device=True, query_string={"cursor": "2147483647"}).status_code == 200
