"""Ids beyond the database's integer range: Flask's int converter takes any
size, PostgreSQL's integer stops at 2**31-1. In a path (API or web page) they
are 404 not_found; in a body or a query they are refused with a 4xx, never a
500.
"""
from __future__ import annotations

import pytest
from marshmallow import Schema
from marshmallow import fields as mf

from server.api.routing import OPERATIONS
from tests.security import tenants
from tests.security.route_requests import (SKIP_ROUTES, ObjectFinder, call, id_routes, path_params, sample_body,
                                           sample_query, web_id_routes)
from tests.security.tenants import _allowed_callers, callers, refusal, web_session

two_orgs = tenants.two_orgs  # the fixture: pytest finds it under this name in this module


def test_web_pages_with_ids_beyond_the_integer_range_are_not_found(request, client, clean_app, two_orgs):
    routes = web_id_routes(clean_app)
    if not routes:
        pytest.skip("no web page takes an id")
    finder = ObjectFinder(client)
    org_a, _ = two_orgs
    browser, csrf = web_session(clean_app, org_a.admin)
    failures = []
    for method, rule in routes:
        names = {name for conv, name, _ in path_params(rule) if conv == "int"}
        path = finder.fill(org_a, rule, {name: 2**31 for name in names})
        response = browser.open(path, method=method, data={"csrf_token": csrf} if method == "POST" else None)
        if response.status_code != 404:
            failures.append(f"{method} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_ids_beyond_the_databases_integer_range_are_not_found(client, two_orgs):
    """Flask's int converter takes any size; PostgreSQL's integer stops at 2**31-1."""
    finder = ObjectFinder(client)
    org_a, _ = two_orgs
    failures = []
    for op in id_routes():
        if (op.method, op.rule) in SKIP_ROUTES:
            continue
        caller = next(c for c in callers(org_a, "org A") if refusal(op, c) is None)
        for huge in (2**31, 2**63, 10**30):
            names = {name for conv, name, _ in path_params(op.rule) if conv == "int"}
            overrides = {name: huge for name in names}
            if caller.kind == "device" and len(names) > 1 and "device_id" in names:
                overrides["device_id"] = org_a.users[caller.role].device_id  # a phone acts on itself
            path = finder.fill(org_a, op.rule, overrides)
            response = call(client, op, path, caller, org_a)
            if response.status_code != 404 or response.json["error"]["code"] != "not_found":
                failures.append(f"{op.method} {path} as {caller.label}: {response.status_code}")
    assert not failures, "\n".join(failures)


def _id_fields(schema: Schema) -> list[tuple[str, bool]]:
    """(data key, is a list) of the integer id fields a schema loads."""
    out = []
    for name, fld in schema.fields.items():
        inner = fld.inner if isinstance(fld, mf.List) else fld
        if not fld.dump_only and isinstance(inner, mf.Integer) and (
                name.endswith(("_id", "ids")) or name in ("id", "cursor")):
            out.append((fld.data_key or name, isinstance(fld, mf.List)))
    return out


def test_ids_beyond_the_databases_integer_range_in_bodies_and_queries_are_refused(client, two_orgs):
    finder = ObjectFinder(client)
    org_a, _ = two_orgs
    failures, checked = [], 0
    for op in OPERATIONS:
        if (op.method, op.rule) in SKIP_ROUTES:
            continue
        caller = next((c for c in _allowed_callers(op, org_a)), None)
        overrides = {"device_id": org_a.users[caller.role].device_id} if caller and caller.kind == "device" else {}
        for part, schema in (("body", op.body), ("query", op.query)):
            for key, many in _id_fields(schema()) if schema else []:
                path = finder.fill(org_a, op.rule, overrides)
                huge = [2**31] if many else 2**31
                if part == "body":
                    body = {**sample_body(schema(), org_a, op.endpoint), key: huge}
                    response = client.open(path, method=op.method, headers=caller.headers(), json=body)
                else:
                    response = client.open(path, method=op.method, headers=caller.headers(),
                                           query_string={**sample_query(op, org_a), key: 2**31},
                                           json=sample_body(op.body(), org_a, op.endpoint) if op.body else None)
                checked += 1
                if not 400 <= response.status_code < 500:
                    failures.append(f"{op.method} {path} {part} {key}=2**31: {response.status_code}")
    assert checked, "no body or query takes an id"
    assert not failures, "\n".join(failures)
