"""Mass assignment: bodies carrying `organization_id`, `role`, `owner_id`,
`user_id` or `id` are refused (422, naming the field) or the fields are
ignored, on every operation that reads a body; a declared reference cannot
reach into another organisation; sign-up cannot join an existing organisation
or choose a role.
"""
from __future__ import annotations

from server.api.routing import OPERATIONS
from tests.conftest import PASSWORD
from tests.security import tenants
from tests.security.route_requests import SKIP_ROUTES, ObjectFinder, call
from tests.security.tenants import _allowed_callers, snapshot

two_orgs = tenants.two_orgs  # the fixture: pytest finds it under this name in this module


FOREIGN_REFERENCES = ("organization_id", "owner_id", "user_id")


def _roles(app, org_id: int) -> dict:
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import User

    with app.app_context():
        rows = db.session.execute(
            select(User.id, User.role).where(User.organization_id == org_id).execution_options(
                all_organizations=True)).all()
        db.session.remove()
    return dict(rows)


def _mentions(app, org_id: int, columns: tuple[str, ...], value: int) -> list[str]:
    """Rows of `org_id` whose owner/user columns point at `value`."""
    from server.extensions import db

    found = []
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if "organization_id" not in table.c:
                continue
            for column in columns:
                if column in table.c:
                    rows = conn.execute(table.select().where(table.c.organization_id == org_id,
                                                             table.c[column] == value)).fetchall()
                    found += [f"{table.name}.{column}" for _ in rows]
    return found


def test_ownership_and_tenancy_fields_in_a_body_are_rejected_or_ignored(client, clean_app, two_orgs):
    finder = ObjectFinder(client)
    org_a, org_b = two_orgs
    foreign = {"organization_id": org_b.id, "role": "admin", "owner_id": org_b.rep.user_id,
               "user_id": org_b.rep.user_id, "id": org_b.rep.user_id}
    violations, checked = [], 0
    for op in OPERATIONS:
        if op.body is None or (op.method, op.rule) in SKIP_ROUTES:
            continue
        declared = {f.data_key or n for n, f in op.body().fields.items() if not f.dump_only}
        extras = {k: v for k, v in foreign.items() if k not in declared}
        # A declared reference (say, the user a lead is assigned to) must not reach into org B either.
        references = {k: v for k, v in foreign.items() if k in declared and k in FOREIGN_REFERENCES}
        for caller in _allowed_callers(op, org_a):
            overrides = {}
            if caller.kind == "device":  # a phone may only act on itself
                overrides["device_id"] = org_a.users[caller.role].device_id
            path = finder.fill(org_a, op.rule, overrides)
            assert path is not None, finder.problems
            roles_before, b_before = _roles(clean_app, org_a.id), snapshot(clean_app, org_b.id)
            response = call(client, op, path, caller, org_a, extra_body={**extras, **references})
            checked += 1
            body = response.get_json(silent=True) or {}
            where = f"{op.method} {path} as {caller.label}"
            if response.status_code == 422:
                fields = body.get("error", {}).get("fields", {})
                missing = [k for k in extras if fields.get(k) != ["Unknown field."]]
                if missing:
                    violations.append(f"{where}: 422 without flagging {missing}: {body}")
                if not extras and not set(fields) & set(references):
                    violations.append(f"{where}: 422 for another reason than {sorted(references)}: {body}")
                continue
            # Not rejected: then the extra fields must have been ignored.
            if response.status_code >= 500:
                violations.append(f"{where}: {response.status_code}")
            if isinstance(body, dict) and body.get("organization_id") not in (None, org_a.id):
                violations.append(f"{where}: answered organization_id {body['organization_id']}")
            if "role" not in declared and _roles(clean_app, org_a.id) != roles_before:
                violations.append(f"{where}: a role changed")
            if snapshot(clean_app, org_b.id) != b_before:
                violations.append(f"{where}: org B changed")
            if _mentions(clean_app, org_a.id, ("owner_id", "user_id"), org_b.rep.user_id):
                violations.append(f"{where}: a row of org A now points at org B's user")
    assert checked >= sum(1 for op in OPERATIONS if op.body is not None) - len(SKIP_ROUTES)
    assert not violations, "\n".join(violations)


def test_signup_cannot_join_an_existing_organisation_or_choose_a_role(client, two_orgs):
    _, org_b = two_orgs
    response = client.post("/api/v1/signup", json={
        "organization": "Sneaky", "region": "IN", "name": "Mallory", "email": "mallory@example.test",
        "password": PASSWORD, "organization_id": org_b.id, "role": "manager"})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"organization_id", "role"}
    login = client.post("/api/v1/auth/login", json={"email": "mallory@example.test", "password": PASSWORD})
    assert login.status_code == 401
