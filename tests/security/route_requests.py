"""Requests at every declared route, aimed at a given organisation's objects.

Data-driven from `server.api.routing.OPERATIONS`, so a route added later is
covered without editing the tests: its path ids are filled with objects that
are created through the API (a POST on the route's collection, with a body
sampled from the operation's marshmallow schema; `ObjectFinder`). A route
whose object cannot be made that way fails the tenant matrix's coverage check
until a creator is added to `KNOWN_OBJECTS` or the route is listed in
`SKIP_ROUTES` with a reason. Bodies and queries are sampled from the schemas
(`sample_body`, `sample_query`); `call` sends one operation as one caller.
"""
from __future__ import annotations

import base64
import itertools
import re
from datetime import date, datetime, timezone

from marshmallow import Schema
from marshmallow import fields as mf
from marshmallow import validate as mv

from server.api.routing import OPERATIONS, Operation
from server.auth import API_KEY_AUTH, DEVICE
from tests.conftest import PASSWORD
from tests.security.tenants import Caller, Org


# (method, rule) -> why the route is left out of the matrix. Keep it short and
# honest: every entry is a route whose isolation is NOT checked here.
# The CRM connections' routes (issue 20): the path names a CRM, not an object, so each
# organisation reaches only its own connection; and the suite cannot connect one (the token is
# checked against the CRM, unreachable here). tests/crm/test_integrations_api.py holds that
# another organisation's is a 404.
_INTEGRATION_ROUTES = ("the path names a CRM, not an object; tests/crm/test_integrations_api.py covers its tenancy")
SKIP_ROUTES: dict[tuple[str, str], str] = {
    ("PUT", "/api/v1/integrations/<crm>"): _INTEGRATION_ROUTES,
    ("PATCH", "/api/v1/integrations/<crm>"): _INTEGRATION_ROUTES,
    ("DELETE", "/api/v1/integrations/<crm>"): _INTEGRATION_ROUTES,
    ("POST", "/api/v1/integrations/<crm>/pull"): _INTEGRATION_ROUTES,
    ("GET", "/api/v1/integrations/<crm>/pushes"): _INTEGRATION_ROUTES,
}

# Values for path parameters that are not integer ids, by parameter name.
STRING_PARAMS: dict[str, str] = {"record_type": "lead", "kind": "calls-by-day", "crm": "hubspot"}

# Body fields the sampler cannot guess, by endpoint: {endpoint: {field: value or callable(org)}}.
BODY_OVERRIDES: dict[str, dict] = {
    # Values the schema accepts, so that the request is refused for its path id, not its body.
    "accounts.update_user": {"timezone": "Asia/Kolkata",
                             "office_hours": {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}},
    # A public address given as such (no resolving); a sampled host name would not resolve offline.
    "webhooks.create_webhook": {"url": "http://93.184.216.34/hook", "events": ["lead.created"]},
    "webhooks.update_webhook": {"url": "http://93.184.216.34/hook"},
}

_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_serial = itertools.count(1)


# ---------------------------------------------------------------- path parameters


def path_params(rule: str) -> list[tuple[str, str, str]]:
    """[(converter, name, collection rule)] of a Flask rule, in order."""
    out = []
    for match in _PARAM.finditer(rule):
        out.append((match.group(1) or "default", match.group(2), rule[:match.start()].rstrip("/")))
    return out


def id_routes() -> list[Operation]:
    return [op for op in OPERATIONS if path_params(op.rule)]


def web_id_routes(app) -> list[tuple[str, str]]:
    """(method, rule) of the web pages that take a path id (not API operations)."""
    out = []
    for rule in app.url_map.iter_rules():
        takes_id = any(conv == "int" for conv, _, _ in path_params(rule.rule))
        if not rule.rule.startswith("/api/") and takes_id and "<path:" not in rule.rule:
            out += [(method, rule.rule) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


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


def _set_aside_upload(finder: "ObjectFinder", org: Org) -> int | None:
    """A call upload that processing gave up on: uploaded by the rep's phone,
    then set aside as three failed runs would (no API sets one aside)."""
    from sqlalchemy import update

    from server.extensions import db
    from mobile_sync.store.models import SyncUpload

    serial = next(_serial)
    at_ms = 1_763_622_000_000 + serial * 60_000
    row = {"_id": serial, "number": _phone(), "date": at_ms, "duration": 30, "type": 1, "presentation": 1,
           "countryiso": "IN"}
    synced = org.rep.post("/api/v1/sync/calls", device=True, json={"batch_id": f"aside-{serial}", "calls": [row]})
    assert synced.status_code == 200, synced.json
    with finder.client.application.app_context():
        upload_id = db.session.execute(update(SyncUpload).where(
            SyncUpload.organization_id == org.id, SyncUpload.batch_id == f"aside-{serial}")
            .values(set_aside_at=datetime.now(timezone.utc), failures=3).returning(SyncUpload.id)).scalar()
        db.session.commit()
    return upload_id


def _contact_import(finder: "ObjectFinder", org: Org) -> int | None:
    """An import the page started: a queued run with its file (no API starts one)."""
    import io

    from mobile_sync.contact_imports import start_import
    from server.extensions import db

    with finder.client.application.app_context():
        run_id = start_import(db.session, org_id=org.id, user_id=org.manager.user_id, owner_id=None, region="IN",
                              stream=io.BytesIO(b"name,company,email,source,phones\nAsha,,,,9876543210\n"),
                              filename="a.csv", mapping=None, now=datetime.now(timezone.utc))
        db.session.commit()
    return run_id


def _suppressed_number(finder: "ObjectFinder", org: Org) -> int | None:
    """A number on the suppression list, made as a reviewer makes one: the
    rep's lead rejected as spam by the manager (API.md: reject)."""
    lead = org.rep.post("/api/v1/leads", json={"name": "Suppressed Caller", "phone": _phone()})
    assert lead.status_code == 201, lead.json
    rejected = org.manager.post(f"/api/v1/leads/{lead.json['id']}/reject", json={"reason": "spam"})
    assert rejected.status_code == 200, rejected.json
    items = org.admin.get("/api/v1/suppressions").json["items"]
    return next((item["id"] for item in items if item["lead_id"] == lead.json["id"]), None)


def _webhook_delivery(finder: "ObjectFinder", org: Org) -> int | None:
    """A delivery of the organisation's endpoint: its test send."""
    endpoint_id = finder.object_id(org, "/api/v1/webhooks", "webhook_id")
    sent = org.admin.post(f"/api/v1/webhooks/{endpoint_id}/test")
    return sent.json["delivery_id"] if sent.status_code == 202 else None


# Objects that no POST on their collection creates: (collection, param) -> (finder, org) -> id.
KNOWN_OBJECTS = {
    ("/api/v1/users", "user_id"): lambda finder, org: org.rep.user_id,
    ("/api/v1/devices", "device_id"): lambda finder, org: org.rep.device_id,
    # STRING_PARAMS names the record type "lead".
    ("/api/v1/records/<string:record_type>", "record_id"):
        lambda finder, org: finder.object_id(org, "/api/v1/leads", "lead_id"),
    ("/api/v1/tasks", "task_id"): _missed_call_task,
    ("/api/v1/sync/set-aside", "upload_id"): _set_aside_upload,
    # The console's /team pages act on the API's invites and users.
    ("/api/v1/team/invites", "invite_id"): lambda finder, org: finder.object_id(org, "/api/v1/invites", "invite_id"),
    ("/api/v1/team/users", "user_id"): lambda finder, org: org.rep.user_id,
    ("/api/v1/suppressions", "suppression_id"): _suppressed_number,
    # The /settings page acts on the API's suppressions and API keys.
    ("/settings/suppressions", "suppression_id"):
        lambda finder, org: finder.object_id(org, "/api/v1/suppressions", "suppression_id"),
    ("/settings/api-keys", "key_id"): lambda finder, org: finder.object_id(org, "/api/v1/api-keys", "key_id"),
    # The account's private-numbers page acts on the API's.
    ("/account/private-numbers", "private_id"):
        lambda finder, org: finder.object_id(org, "/api/v1/me/private-numbers", "private_id"),
    # The import page's kept upload is named by its uploader's organisation and user ids as well as this
    # random id, so no other caller can name it: every caller, this organisation's too, gets 404 (tests/web).
    ("/api/v1/contacts/import", "upload_id"): lambda finder, org: "u" * 32,
    ("/api/v1/webhooks/<int:webhook_id>/deliveries", "delivery_id"): _webhook_delivery,
    ("/api/v1/contacts/imports", "import_id"): _contact_import,
    # The import page shows the API's import.
    ("/contacts/imports", "run_id"): lambda finder, org: finder.object_id(org, "/api/v1/contacts/imports", "import_id"),
    # The /webhooks pages act on the API's endpoints and deliveries.
    ("/webhooks", "webhook_id"): lambda finder, org: finder.object_id(org, "/api/v1/webhooks", "webhook_id"),
    ("/webhooks/<int:webhook_id>/deliveries", "delivery_id"):
        lambda finder, org: finder.object_id(org, "/api/v1/webhooks/<int:webhook_id>/deliveries", "delivery_id"),
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


def call(client, op: Operation, path: str, caller: Caller, org: Org, extra_body: dict | None = None):
    kwargs = {"headers": caller.headers(), "query_string": sample_query(op, org)}
    if op.body is not None:
        kwargs["json"] = {**sample_body(op.body(), org, op.endpoint), **(extra_body or {})}
    elif op.request_content_type != "application/json":
        kwargs["data"], kwargs["content_type"] = b"", op.request_content_type
    return client.open(path, method=op.method, **kwargs)
