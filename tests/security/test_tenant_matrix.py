"""Tenant isolation over every declared operation and every web page that
takes an id.

Two organisations, each with an admin, a manager and a rep (user token and
device token each) and an API key. Every caller of org A calls every route of
org B's objects: 0 successes (404, or the 401/403 of the route's auth mode),
and org B's rows unchanged after each call; the same paths work for org B's
own admin. Routes and their objects come from the route table
(tests/security/route_requests.py), so a route added later is covered without
editing this file.
"""
from __future__ import annotations

import pytest

from tests.security import report, tenants
from tests.security.route_requests import SKIP_ROUTES, ObjectFinder, call, id_routes, web_id_routes
from tests.security.tenants import Caller, callers, diff, refusal, snapshot, web_session

two_orgs = tenants.two_orgs  # the fixture: pytest finds it under this name in this module


def test_every_id_route_is_in_the_matrix_or_skipped_with_a_reason(client, two_orgs):
    finder = ObjectFinder(client)
    _, org_b = two_orgs
    routes = {(op.method, op.rule) for op in id_routes()}
    assert routes, "no operation takes a path id: the matrix below would check nothing"
    stale = set(SKIP_ROUTES) - routes
    assert not stale, f"SKIP_ROUTES names routes that no longer exist: {sorted(stale)}"
    unresolved = [f"{op.method} {op.rule}" for op in id_routes()
                  if (op.method, op.rule) not in SKIP_ROUTES and finder.fill(org_b, op.rule) is None]
    assert not unresolved, (f"cannot build an object for {unresolved}: {finder.problems}; add a creator to "
                            "KNOWN_OBJECTS, a value to STRING_PARAMS, or skip the route in SKIP_ROUTES with a reason")


def test_no_caller_of_one_organisation_reaches_another_organisations_objects(client, clean_app, two_orgs):
    finder = ObjectFinder(client)
    org_a, org_b = two_orgs
    violations, calls = [], 0
    targets = [(op, finder.fill(org_b, op.rule)) for op in id_routes() if (op.method, op.rule) not in SKIP_ROUTES]
    assert all(path for _, path in targets), finder.problems
    before = snapshot(clean_app, org_b.id)
    successes = server_errors = 0
    for op, path in targets:
        for caller in callers(org_a, "org A"):
            expected = refusal(op, caller) or 404
            response = call(client, op, path, caller, org_a)
            calls += 1
            successes += response.status_code < 300
            server_errors += response.status_code >= 500
            body = response.get_json(silent=True) or {}
            if response.status_code != expected:
                violations.append(f"{op.method} {path} as {caller.label}: {response.status_code} {body}, "
                                  f"expected {expected}")
            elif expected == 404 and "error" not in body:
                violations.append(f"{op.method} {path} as {caller.label}: 404 without the error shape")
            after = snapshot(clean_app, org_b.id)
            if after != before:
                violations.append(f"{op.method} {path} as {caller.label} changed org B: {diff(before, after)}")
                before = after
    report.record("tenant matrix", calls=calls, cross_tenant_successes=successes,
                  server_errors=server_errors, violations=len(violations))
    assert calls == len(targets) * 7 and targets
    assert not violations, "\n".join(violations)


def test_web_pages_of_another_organisations_objects_are_not_found(client, clean_app, two_orgs):
    routes = web_id_routes(clean_app)
    if not routes:
        pytest.skip("no web page takes an id")
    finder = ObjectFinder(client)
    org_a, org_b = two_orgs
    targets = [(method, rule, finder.fill(org_b, rule)) for method, rule in routes]
    assert all(path for _, _, path in targets), finder.problems
    before = snapshot(clean_app, org_b.id)
    violations = []
    for role in ("admin", "manager"):
        browser, csrf = web_session(clean_app, org_a.users[role])
        for method, rule, path in targets:
            response = browser.open(path, method=method, data={"csrf_token": csrf} if method == "POST" else None)
            # A role that may not do this at all (403 on its own objects too) learns nothing either.
            role_refused = response.status_code == 403 and browser.open(
                finder.fill(org_a, rule), method=method,
                data={"csrf_token": csrf} if method == "POST" else None).status_code == 403
            if response.status_code != 404 and not role_refused:
                violations.append(f"{method} {path} as org A {role}: {response.status_code}")
            after = snapshot(clean_app, org_b.id)
            if after != before:
                violations.append(f"{method} {path} as org A {role} changed org B: {diff(before, after)}")
                before = after
        # The control: the same browser reaches its own organisation's page.
        # (a lead's page: every reviewer may open one; revoking a phone is the admin's)
        own = finder.fill(org_a, next(r for m, r in routes if m == "GET" and r.startswith("/leads/")))
        assert browser.get(own).status_code == 200
    assert not violations, "\n".join(violations)


def test_org_b_objects_are_reachable_by_their_owners(client, two_orgs):
    """The control for the matrix: the same paths work for org B's admin, so
    the 404s above come from tenancy, not from a broken path."""
    finder = ObjectFinder(client)
    _, org_b = two_orgs
    reads = [op for op in id_routes() if op.method == "GET" and (op.method, op.rule) not in SKIP_ROUTES]
    assert reads, "no GET route with an id to check"
    for op in reads:
        caller = Caller("org B admin", "user", "admin", org_b.admin.token)
        if refusal(op, caller) is not None:
            caller = Caller("org B admin device", "device", "admin", org_b.admin.device_token)
        overrides = {"device_id": org_b.admin.device_id} if caller.kind == "device" else None
        path = finder.fill(org_b, op.rule, overrides)
        response = call(client, op, path, caller, org_b)
        assert response.status_code == 200, (op.rule, response.json)
