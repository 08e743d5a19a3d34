"""Roles: a caller below an operation's roles gets 403 and changes nothing, on
every declared operation, whatever role their body claims; a rep cannot
promote themselves or read their teammates.
"""
from __future__ import annotations

from server.api.routing import OPERATIONS
from server.auth import PUBLIC
from tests.security import tenants
from tests.security.route_requests import SKIP_ROUTES, ObjectFinder, call
from tests.security.tenants import callers, diff, refusal, snapshot

two_orgs = tenants.two_orgs  # the fixture: pytest finds it under this name in this module


def test_roles_below_an_operation_get_403_and_change_nothing(client, clean_app, two_orgs):
    finder = ObjectFinder(client)
    _, org_b = two_orgs
    violations, checked = [], 0
    targets = [(op, finder.fill(org_b, op.rule)) for op in OPERATIONS
               if op.auth != PUBLIC and (op.method, op.rule) not in SKIP_ROUTES]
    assert all(path for _, path in targets), finder.problems
    before = snapshot(clean_app)
    for op, path in targets:
        for caller in callers(org_b, "org B"):
            expected = refusal(op, caller)
            if expected != 403:
                continue
            checked += 1
            response = call(client, op, path, caller, org_b, extra_body={"role": "admin"} if op.body else None)
            code = (response.get_json(silent=True) or {}).get("error", {}).get("code")
            if response.status_code != 403 or code not in ("forbidden", "user_token_required",
                                                           "device_token_required"):
                violations.append(f"{op.method} {path} as {caller.label}: {response.status_code} {response.json}")
            after = snapshot(clean_app)
            if after != before:
                violations.append(f"{op.method} {path} as {caller.label} changed data: {diff(before, after)}")
                before = after
    admin_only = [op for op in OPERATIONS if op.roles == ("admin",)]
    assert admin_only and checked >= len(admin_only) * 4  # manager and rep, each with two tokens
    assert not violations, "\n".join(violations)


def test_a_rep_cannot_promote_themselves_or_read_teammates(client, two_orgs):
    _, org_b = two_orgs
    rep = org_b.rep
    assert rep.patch(f"/api/v1/users/{rep.user_id}", json={"role": "admin"}).status_code == 403
    assert rep.get(f"/api/v1/users/{org_b.admin.user_id}").status_code == 403
    assert rep.post("/api/v1/invites", json={"email": "friend@example.test", "role": "admin"}).status_code == 403
    assert org_b.admin.get(f"/api/v1/users/{rep.user_id}").json["role"] == "rep"
