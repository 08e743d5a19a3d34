"""Tenant isolation, roles and mass assignment, over every declared operation
(and every web page that takes an id).

Two organisations, each with an admin, a manager and a rep (user token and
device token each) and an API key. Every caller of org A calls every route of
org B's objects: 0 successes (404, or the 401/403 of the route's auth mode),
and org B's rows unchanged after each call. Callers below an operation's roles
get 403 and change nothing. Bodies carrying `organization_id`, `role`,
`owner_id`, `user_id`, `id` are refused (422) or the fields are ignored.

Data-driven from `server.api.routing.OPERATIONS`, so a route added later is
covered without editing this file: its path ids are filled with objects that
are created through the API (a POST on the route's collection, with a body
sampled from the operation's marshmallow schema). A route whose object cannot
be made that way fails the coverage check until a creator is added to
`KNOWN_OBJECTS` or the route is listed in `SKIP_ROUTES` with a reason.

The helpers here (`build_org`, `ObjectFinder`, `sample_body`, `snapshot`) are
also used by the route walk and the fuzzing test.
"""
from __future__ import annotations

import base64
import itertools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pytest
from marshmallow import Schema
from marshmallow import fields as mf
from marshmallow import validate as mv

from server.api.routing import OPERATIONS, Operation
from server.auth import ANY, API_KEY_AUTH, DEVICE, PUBLIC, USER
from tests.conftest import PASSWORD, Actor
from tests.security import report

# (method, rule) -> why the route is left out of the matrix. Keep it short and
# honest: every entry is a route whose isolation is NOT checked here.
SKIP_ROUTES: dict[tuple[str, str], str] = {}

# Values for path parameters that are not integer ids, by parameter name.
STRING_PARAMS: dict[str, str] = {"record_type": "lead"}

# Body fields the sampler cannot guess, by endpoint: {endpoint: {field: value or callable(org)}}.
BODY_OVERRIDES: dict[str, dict] = {}

_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_serial = itertools.count(1)


# --------------------------------------------------------------------------- world


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


# ---------------------------------------------------------------- path parameters


def path_params(rule: str) -> list[tuple[str, str, str]]:
    """[(converter, name, collection rule)] of a Flask rule, in order."""
    out = []
    for match in _PARAM.finditer(rule):
        out.append((match.group(1) or "default", match.group(2), rule[:match.start()].rstrip("/")))
    return out


def id_routes() -> list[Operation]:
    return [op for op in OPERATIONS if path_params(op.rule)]


def _missed_call_task(finder: "ObjectFinder", org: Org) -> int | None:
    """A call-back task, made as the app makes one: the rep's lead calls the
    rep's phone and the call is missed (API.md: sync, tasks)."""
    number = _phone()
    lead = org.rep.post("/api/v1/leads", json={"name": "Missed Caller", "phone": number})
    assert lead.status_code == 201, lead.json
    serial = next(_serial)
    at_ms = 1_763_622_000_000 + serial * 60_000
    row = {"_id": serial, "number": number, "date": at_ms, "duration": 0, "type": 3, "presentation": 1,
           "countryiso": "IN", "name": None, "via_number": "", "subscription_id": "1", "last_modified": at_ms}
    synced = org.rep.post("/api/v1/sync/calls", device=True, json={"batch_id": f"task-{serial}", "calls": [row]})
    assert synced.status_code == 200, synced.json
    tasks = org.rep.get("/api/v1/tasks", query_string={"status": "open"}).json["items"]
    return tasks[0]["id"] if tasks else None


# Objects that no POST on their collection creates: (collection, param) -> (finder, org) -> id.
KNOWN_OBJECTS = {
    ("/api/v1/users", "user_id"): lambda finder, org: org.rep.user_id,
    ("/api/v1/devices", "device_id"): lambda finder, org: org.rep.device_id,
    # STRING_PARAMS names the record type "lead".
    ("/api/v1/records/<string:record_type>", "record_id"):
        lambda finder, org: finder.object_id(org, "/api/v1/leads", "lead_id"),
    ("/api/v1/tasks", "task_id"): _missed_call_task,
}


class ObjectFinder:
    """Finds (creating through the API when needed) a real object of an
    organisation for each path parameter."""

    def __init__(self, client):
        self.client = client
        self.problems: dict[tuple[str, str], str] = {}

    def object_id(self, org: Org, collection: str, name: str):
        key = (collection, name)
        if key not in org.ids:
            org.ids[key] = self._discover(org, collection, name)
        return org.ids[key]

    def _discover(self, org: Org, collection: str, name: str):
        if (collection, name) in KNOWN_OBJECTS:
            found = KNOWN_OBJECTS[(collection, name)](self, org)
            if found is None:
                self.problems[(collection, name)] = "its KNOWN_OBJECTS creator found nothing"
            return found
        if not collection.startswith("/api/"):
            # A web page shows the API's object: /leads/<id> is /api/v1/leads/<id>.
            return self.object_id(org, "/api/v1" + collection, name)
        create = next((op for op in OPERATIONS if op.method == "POST" and op.rule == collection), None)
        if create is None:
            self.problems[(collection, name)] = f"no POST {collection} creates the object"
            return None
        path = self.fill(org, collection)
        if path is None:
            return None
        body = sample_body(create.body(), org, create.endpoint) if create.body else None
        response = self.client.open(path, method="POST", json=body, headers=creator_headers(create, org))
        data = response.get_json(silent=True) or {}
        if response.status_code not in (200, 201):
            self.problems[(collection, name)] = (f"POST {collection} with a sampled body answered "
                                                 f"{response.status_code}: {data}")
            return None
        for key in (name, "id"):
            if isinstance(data.get(key), int):
                return data[key]
        self.problems[(collection, name)] = f"POST {collection} answered no `{name}` or `id`: {data}"
        return None

    def fill(self, org: Org, rule: str, overrides: dict | None = None) -> str | None:
        """`rule` with each parameter replaced by a real object of `org`, or None."""
        overrides = overrides or {}
        path = rule
        for converter, name, collection in path_params(rule):
            if name in overrides:
                value = overrides[name]
            elif converter in ("int", "uuid") or name.endswith("id"):
                value = self.object_id(org, collection, name)
            else:
                value = STRING_PARAMS.get(name)
                if value is None:
                    self.problems[(collection, name)] = f"no value for the path parameter <{name}>"
            if value is None:
                return None
            path = _PARAM.sub(lambda m: str(value) if m.group(2) == name else m.group(0), path, count=0)
        return path


def creator_headers(op: Operation, org: Org) -> dict:
    if op.auth == DEVICE:
        return org.admin.headers(device=True)
    if op.auth == API_KEY_AUTH:
        return {"Authorization": f"Bearer {org.api_key}"}
    return org.admin.headers()


# ---------------------------------------------------------------- body sampling


def sample_body(schema: Schema, org: Org, endpoint: str = "", *, required_only: bool = True) -> dict:
    """A body the schema accepts, built from field types, validators and names."""
    load_fields = {name: f for name, f in schema.fields.items() if not f.dump_only}
    chosen = {n: f for n, f in load_fields.items() if f.required} if required_only else dict(load_fields)
    if not chosen:  # a PATCH: every field is optional; send them all
        chosen = load_fields
    body = {}
    for name, fld in chosen.items():
        body[fld.data_key or name] = sample_value(fld, name, org)
    for key, value in BODY_OVERRIDES.get(endpoint, {}).items():
        body[key] = value(org) if callable(value) else value
    return body


def _phone() -> str:
    return f"+91 98{next(_serial):08d}"


def _text(name: str) -> str:
    n = name.lower()
    if "password" in n:
        return PASSWORD
    if "email" in n:
        return f"sample{next(_serial)}@example.test"
    if "phone" in n or "number" in n or n in ("from", "to"):
        return _phone()
    if n in ("region", "country", "countryiso"):
        return "IN"
    if n == "policy_version":
        from mobile_sync.consent import DEFAULT_POLICY_VERSION

        return DEFAULT_POLICY_VERSION
    if n == "push_public_key":
        return base64.b64encode(bytes(range(32))).decode()
    if "url" in n:
        return "https://example.test/hook"
    return f"Sample {n} {next(_serial)}"


def sample_value(fld: mf.Field, name: str, org: Org):
    for validator in fld.validators:
        if isinstance(validator, mv.OneOf):
            return list(validator.choices)[0]
    if isinstance(fld, mf.Email):
        return f"sample{next(_serial)}@example.test"
    if isinstance(fld, mf.Nested):
        nested = fld.schema
        one = sample_body(nested, org)
        return [one] if getattr(nested, "many", False) or fld.many else one
    if isinstance(fld, mf.List):
        size = 1
        for validator in fld.validators:
            if isinstance(validator, mv.Length) and validator.min:
                size = validator.min
        return [sample_value(fld.inner, name, org) for _ in range(size)]
    if isinstance(fld, mf.Boolean):
        return True
    if isinstance(fld, mf.Integer):
        low = next((v.min for v in fld.validators if isinstance(v, mv.Range) and v.min is not None), 1)
        if name.endswith("user_id") or name == "owner_id":
            return org.rep.user_id
        return max(1, low)
    if isinstance(fld, (mf.Float, mf.Decimal, mf.Number)):
        return 1.5
    if isinstance(fld, (mf.DateTime, mf.AwareDateTime, mf.NaiveDateTime)):
        return datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc).isoformat()
    if isinstance(fld, mf.Date):
        return date(2026, 11, 20).isoformat()
    if isinstance(fld, (mf.Dict, mf.Mapping)):
        return {}
    if isinstance(fld, mf.UUID):
        return f"00000000-0000-4000-8000-{next(_serial):012d}"
    if isinstance(fld, mf.Constant):
        return fld.constant
    value = _text(name)
    for validator in fld.validators:
        if isinstance(validator, mv.Length):
            if validator.max is not None:
                value = value[:validator.max]
            if validator.min is not None and len(value) < validator.min:
                value = value + "x" * (validator.min - len(value))
    return value


def sample_query(op: Operation, org: Org) -> dict:
    if op.query is None:
        return {}
    return {k: v for k, v in sample_body(op.query(), org, op.endpoint).items()
            if not isinstance(v, (dict, list))}


# ------------------------------------------------------------------- snapshots


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


def call(client, op: Operation, path: str, caller: Caller, org: Org, extra_body: dict | None = None):
    kwargs = {"headers": caller.headers(), "query_string": sample_query(op, org)}
    if op.body is not None:
        kwargs["json"] = {**sample_body(op.body(), org, op.endpoint), **(extra_body or {})}
    elif op.request_content_type != "application/json":
        kwargs["data"], kwargs["content_type"] = b"", op.request_content_type
    return client.open(path, method=op.method, **kwargs)


@pytest.fixture
def two_orgs(client, make_org, make_user, make_device):
    return (build_org(client, make_org, make_user, make_device, "Org A"),
            build_org(client, make_org, make_user, make_device, "Org B"))


# ----------------------------------------------------------------------- tests


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


def web_id_routes(app) -> list[tuple[str, str]]:
    """(method, rule) of the web pages that take a path id (not API operations)."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") and path_params(rule.rule) and "<path:" not in rule.rule:
            out += [(method, rule.rule) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def web_session(app, actor: Actor):
    """A browser signed in as `actor`, and its CSRF token."""
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"\s+value="([^"]+)"', page).group(1)
    signed_in = browser.post("/login", data={"email": actor.email, "password": PASSWORD, "csrf_token": csrf})
    assert signed_in.status_code in (302, 303), signed_in.status_code
    page = browser.get("/review").get_data(as_text=True)
    return browser, re.search(r'name="csrf_token"\s+value="([^"]+)"', page).group(1)


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
            if response.status_code != 404:
                violations.append(f"{method} {path} as org A {role}: {response.status_code}")
            after = snapshot(clean_app, org_b.id)
            if after != before:
                violations.append(f"{method} {path} as org A {role} changed org B: {diff(before, after)}")
                before = after
        # The control: the same browser reaches its own organisation's page.
        own = finder.fill(org_a, next(r for m, r in routes if m == "GET"))
        assert browser.get(own).status_code == 200
    assert not violations, "\n".join(violations)


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


FOREIGN_REFERENCES = ("organization_id", "owner_id", "user_id")


def _allowed_callers(op: Operation, org: Org) -> list[Caller]:
    if op.auth == PUBLIC:
        return [Caller("anonymous", "anonymous", None, None)]
    return [c for c in callers(org, "org A") if refusal(op, c) is None]


def _roles(app, org_id: int) -> dict:
    from sqlalchemy import select

    from server.extensions import db
    from server.models import User

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
