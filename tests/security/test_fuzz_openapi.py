"""schemathesis over the published OpenAPI document, in process.

Every operation of `/api/v1/openapi.json` gets generated requests that fit its
schema and requests that do not, sent with real credentials (an admin's user
token, the admin's phone's device token where the operation takes one, the
organisation's API key). Path ids are, by thirds, ids of the caller's own real
objects (so the views run on generated input rather than stopping at a 404),
ids of another organisation's real objects (which must never answer 2xx), and
generated ones.

Outcome: no 5xx, every error in the one error shape, 0 cross-tenant successes
and the other organisation's rows unchanged. Size: SECURITY_FUZZ (ci: about
1,300 requests; nightly: at least 1,000 cases per operation whose input space
is that large). Derandomized, so a failure reproduces; failures are collected
and listed together rather than shrunk one by one.
"""
from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from server.api.routing import OPERATIONS
from server.auth import ANY, API_KEY_AUTH, DEVICE, PUBLIC, USER
from tests.security import report
from tests.security.fuzz_size import fuzz_size
from tests.security.route_requests import ObjectFinder, path_params
from tests.security.tenants import build_org, diff, snapshot

# Whatever the size, the run sends at least this many requests.
MIN_REQUESTS = 1_000
# The requests carry the world's real credentials: invalid and missing ones are
# the route walk's business (test_route_walk.py), so they are not generated here.
CONFIG = SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}})
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def declared() -> dict:
    """The app's operations by (method, OpenAPI path); filled once the app is built."""
    return {(op.method, _CONVERTER.sub(r"{\1}", op.rule)): op for op in OPERATIONS}


class World:
    """An organisation with real objects, whose admin sends the generated
    requests, and a victim organisation whose objects they aim at; re-made
    when a generated request removes what the credentials depend on."""

    def __init__(self, client, app, make_org, make_user, make_device):
        self.client = client
        self.app = app
        self.factories = (make_org, make_user, make_device)
        self.org = build_org(client, *self.factories, "Fuzzed Org")
        self.finder = ObjectFinder(client)
        self.calls = 0
        # The victim's objects are made before its rows are taken: nothing of
        # it may change afterwards.
        self.victim = build_org(client, *self.factories, "Victim Org")
        self.canary = plant_canary(self.victim)
        self.victim_paths = {op.rule: self.finder.fill(self.victim, op.rule) for op in OPERATIONS
                             if path_params(op.rule)}
        assert all(self.victim_paths.values()), self.finder.problems
        self.victim_rows = snapshot(app, self.victim.id)
        self.foreign_attempts: Counter = Counter()
        self.foreign_successes: list[str] = []

    def refresh(self) -> None:
        """Credentials that work again: a new API key (and phone, with consent),
        or a new organisation when the admin was locked out or it is closing."""
        admin = self.org.admin
        key = self.client.post("/api/v1/api-keys", headers=admin.headers(), json={"name": "fuzz"})
        if key.status_code != 201:
            self.org = build_org(self.client, *self.factories, f"Fuzzed Org {self.calls}")
            return
        self.org.api_key = key.json["key"]
        if self.client.get(f"/api/v1/devices/{admin.device_id}", headers=admin.headers(device=True)).status_code != 200:
            self.factories[2](admin)  # make_device: a new phone, consented

    def forget(self, rule: str) -> None:
        """The caller's objects named by `rule` were deleted: make new ones when next needed."""
        for _, name, collection in path_params(rule):
            self.org.ids.pop((collection, name), None)

    def headers(self, op) -> dict:
        """Credentials for the operation; ANY and PUBLIC alternate between kinds."""
        self.calls += 1
        admin = self.org.admin
        user, device = admin.headers(), admin.headers(device=True)
        if op.auth == USER:
            return user
        if op.auth == DEVICE:
            return device
        if op.auth == API_KEY_AUTH:
            return {"Authorization": f"Bearer {self.org.api_key}"}
        if op.auth == ANY:
            return user if self.calls % 2 else device
        assert op.auth == PUBLIC
        return user if self.calls % 3 == 0 else {}

    def real_path_parameters(self, op, generated: dict) -> dict:
        """Generated ids, a third of them swapped for the caller's real objects'
        ids and a third for the victim's."""
        if not generated:
            return generated
        own = self.finder.fill(self.org, op.rule, {"device_id": self.org.admin.device_id})
        choice = sum(v for v in generated.values() if isinstance(v, int)) % 3
        real = {0: own, 1: self.victim_paths[op.rule]}.get(choice)
        if real is None:
            return generated
        values = {}
        template_parts, real_parts = op.rule.strip("/").split("/"), real.strip("/").split("/")
        for template, value in zip(template_parts, real_parts):
            match = _CONVERTER.fullmatch(template)
            if match:
                values[match.group(1)] = int(value) if value.isdigit() else value
        return {name: values.get(name, value) for name, value in generated.items()}

    def check_tenancy(self, op, path: str, response, where: str) -> None:
        """A request on the victim's objects must not succeed."""
        if path_params(op.rule) and path == self.victim_paths[op.rule]:
            self.foreign_attempts[f"{op.method} {op.rule}"] += 1
            if response.status_code < 300:
                self.foreign_successes.append(f"{response.status_code} on {where}")

    def victim_changes(self) -> list[str]:
        return diff(self.victim_rows, snapshot(self.app, self.victim.id))


def plant_canary(org) -> str:
    """A text no one but `org` has, in its users, leads, contacts and notes:
    it must never appear in an answer to anyone else."""
    canary = f"canary{uuid.uuid4().hex}"
    admin = org.admin
    assert admin.patch(f"/api/v1/users/{org.rep.user_id}", json={"name": f"Rep {canary}"}).status_code == 200
    lead = admin.post("/api/v1/leads", json={"name": f"Lead {canary}", "phone": "+91 98765 01234",
                                             "company": canary, "note": f"Note {canary}"})
    assert lead.status_code == 201, lead.json
    assert admin.post(f"/api/v1/records/lead/{lead.json['id']}/notes", json={"text": canary}).status_code == 201
    contact = admin.post("/api/v1/contacts", json={"name": f"Contact {canary}", "company": canary,
                                                   "email": f"{canary}@example.test", "phones": ["+91 98765 01235"]})
    assert contact.status_code == 201, contact.json
    return canary


def _error_shape_problem(response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return "error body is not JSON"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str) \
            or not isinstance(error.get("message"), str):
        return f"error body is not {{error: {{code, message}}}}: {body!r}"[:300]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]):
        return f"error code is not snake_case: {error['code']!r}"
    return None


def test_generated_requests_cause_no_server_error_and_every_error_has_the_shape(
        client, clean_app, make_org, make_user, make_device):
    size = fuzz_size()
    world = World(client, clean_app, make_org, make_user, make_device)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", clean_app, config=CONFIG)
    operations = []
    for result in schema.get_all_operations():
        operations.append(result.ok())  # an Err here means the document itself is broken
    by_path = declared()
    assert {(o.method.upper(), o.path) for o in operations} == set(by_path), \
        "the OpenAPI document and the declared operations disagree"

    examples = max(1, math.ceil(size.cases_per_operation / 2))  # per mode
    sent: Counter = Counter()
    statuses: Counter = Counter()
    failures: list[str] = []
    not_negatable: list[str] = []
    started = time.monotonic()

    for operation in operations:
        op = by_path[(operation.method.upper(), operation.path)]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                      report_multiple_bugs=False)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                case.path_parameters = world.real_path_parameters(op, case.path_parameters or {})
                response = case.call(headers=world.headers(op))
                sent[operation.label] += 1
                statuses[response.status_code] += 1
                where = (f"{mode.value} {case.method} {case.formatted_path} query={case.query!r} "
                         f"body={case.body!r}"[:400])
                world.check_tenancy(op, case.formatted_path, response, where)
                if world.canary in response.content.decode("utf-8", "replace"):
                    world.foreign_successes.append(f"the victim's canary in {response.status_code} on {where}")
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} on {where}: {response.content[:300]!r}")
                elif response.status_code >= 400:
                    problem = _error_shape_problem(response)
                    if problem:
                        failures.append(f"{problem} on {where}")
                if case.method.upper() == "DELETE" and response.status_code < 300:
                    world.forget(op.rule)
                    world.refresh()  # it may have revoked what the credentials need
                elif response.status_code == 401 and op.auth != PUBLIC:
                    world.refresh()

            try:
                run()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
                not_negatable.append(operation.label)

    total = sum(sent.values())
    elapsed = time.monotonic() - started
    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    short = {o.label: sent[o.label] for o in operations if sent[o.label] < size.cases_per_operation}
    print(f"\nschemathesis stateless ({size.name}): {len(operations)} operations, {total} cases "
          f"(fewest {min(sent.values())} per operation) in {elapsed:.1f}s; 5xx: {server_errors}; "
          f"cross-tenant: {sum(world.foreign_attempts.values())} attempts on "
          f"{len(world.foreign_attempts)} routes, {len(world.foreign_successes)} successes; "
          f"statuses {dict(sorted(statuses.items()))}")
    print(f"  below {size.cases_per_operation} cases (their whole input space is smaller): {short}")
    print(f"  nothing to make invalid in {not_negatable}")
    report.record(f"schemathesis stateless ({size.name})", operations=len(operations), cases=total,
                  fewest_per_operation=min(sent.values()), server_errors=server_errors,
                  other_failures=len(failures) - server_errors,
                  cross_tenant_attempts=sum(world.foreign_attempts.values()),
                  cross_tenant_successes=len(world.foreign_successes))
    assert not failures, f"{len(failures)} bad responses:\n" + "\n".join(failures[:40])
    assert not world.foreign_successes, "cross-tenant successes:\n" + "\n".join(world.foreign_successes[:40])
    assert not world.victim_changes(), world.victim_changes()
    assert total >= MIN_REQUESTS, f"only {total} requests were generated: {dict(sent)}"
    assert all(sent[o.label] for o in operations), f"operations never called: {[o.label for o in operations]}"
    # Every route with an id was aimed at the victim's objects.
    aimed = {f"{op.method} {op.rule}" for op in OPERATIONS if path_params(op.rule)}
    assert set(world.foreign_attempts) == aimed, aimed - set(world.foreign_attempts)
    # The credentials were real: generated requests got past authentication and reached the views.
    assert sum(n for code, n in statuses.items() if code < 300) >= len(operations)
