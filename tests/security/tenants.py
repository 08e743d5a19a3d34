"""Two organisations for the security tests, and everyone who can call as
them: an admin, a manager and a rep, each with a user token and a consented
phone, and the organisation's API key (`build_org`, the `two_orgs` fixture).
What the route table must answer each of them before a view runs
(`refusal`), a browser signed in to the manager's pages (`web_session`), and
snapshots of an organisation's rows to show that a refused call changed
nothing (`snapshot`, `diff`).

Used by the tenant matrix, role and mass-assignment tests, the route walk,
token replay, bad input, fuzzing and injection tests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from server.api.routing import Operation
from server.auth import API_KEY_AUTH, DEVICE, PUBLIC, USER
from tests.conftest import PASSWORD, Actor


@dataclass
class Org:
    """One organisation: an admin, a manager and a rep, each with a consented
    phone, and an integration key; `ids` caches discovered object ids."""

    id: int
    name: str
    admin: Actor
    manager: Actor
    rep: Actor
    api_key: str
    ids: dict = field(default_factory=dict)

    @property
    def users(self) -> dict[str, Actor]:
        return {"admin": self.admin, "manager": self.manager, "rep": self.rep}


def build_org(client, make_org, make_user, make_device, name: str) -> Org:
    admin = make_device(make_org(name=name))
    manager = make_device(make_user(admin, "manager"))
    rep = make_device(make_user(admin, "rep"))
    created = admin.post("/api/v1/api-keys", json={"name": f"PBX of {name}"})
    assert created.status_code == 201, created.json
    return Org(admin.organization_id, name, admin, manager, rep, created.json["key"])


@pytest.fixture
def two_orgs(client, make_org, make_user, make_device):
    return (build_org(client, make_org, make_user, make_device, "Org A"),
            build_org(client, make_org, make_user, make_device, "Org B"))


@dataclass(frozen=True)
class Caller:
    """Credentials a request is sent with."""

    label: str
    kind: str  # "user", "device", "api_key" or "anonymous"
    role: str | None
    token: str | None

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def callers(org: Org, tag: str) -> list[Caller]:
    """Every way someone of `org` can call: three roles × (user token, device token), and the API key."""
    out = []
    for role, actor in org.users.items():
        out.append(Caller(f"{tag} {role} (user token)", "user", role, actor.token))
        out.append(Caller(f"{tag} {role} (device token)", "device", role, actor.device_token))
    out.append(Caller(f"{tag} API key", "api_key", None, org.api_key))
    return out


def refusal(op: Operation, caller: Caller) -> int | None:
    """The status the route declaration must answer before the view runs, or
    None when the caller passes authentication and the role check."""
    if op.auth == PUBLIC:
        return None
    if caller.kind == "anonymous":
        return 401
    if op.auth == API_KEY_AUTH:
        return None if caller.kind == "api_key" else 401
    if caller.kind == "api_key":
        return 401  # an integration key is not a bearer token of a user or phone
    if op.auth == USER and caller.kind != "user":
        return 403
    if op.auth == DEVICE and caller.kind != "device":
        return 403
    if op.roles and caller.role not in op.roles:
        return 403
    return None


def _allowed_callers(op: Operation, org: Org) -> list[Caller]:
    if op.auth == PUBLIC:
        return [Caller("anonymous", "anonymous", None, None)]
    return [c for c in callers(org, "org A") if refusal(op, c) is None]


def web_session(app, actor: Actor):
    """A browser signed in as `actor`, and its CSRF token."""
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"\s+value="([^"]+)"', page).group(1)
    signed_in = browser.post("/login", data={"email": actor.email, "password": PASSWORD, "csrf_token": csrf})
    assert signed_in.status_code in (302, 303), signed_in.status_code
    page = browser.get("/review").get_data(as_text=True)
    return browser, re.search(r'name="csrf_token"\s+value="([^"]+)"', page).group(1)


def snapshot(app, organization_id: int | None = None) -> dict:
    """Every row of one organisation (or the whole database), for before/after comparison.

    Tables without an `organization_id` column are taken whole, except the
    login throttle, which counts failures by design.
    """
    from server.extensions import db

    out = {}
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name == "login_failures":
                continue
            query = table.select()
            if organization_id is not None:
                if "organization_id" in table.c:
                    query = query.where(table.c.organization_id == organization_id)
                elif table.name == "organizations":
                    query = query.where(table.c.id == organization_id)
            rows = conn.execute(query).fetchall()
            out[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def diff(before: dict, after: dict) -> list[str]:
    changes = []
    for name in before:
        gone = set(before[name]) - set(after.get(name, []))
        new = set(after.get(name, [])) - set(before[name])
        if gone or new:
            changes.append(f"{name}: -{sorted(gone)} +{sorted(new)}")
    return changes
