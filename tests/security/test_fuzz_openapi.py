"""schemathesis over the published OpenAPI document, in process.

Every operation of `/api/v1/openapi.json` gets generated requests that fit its
schema and requests that do not, sent with real credentials (an admin's user
token, the admin's phone's device token where the operation takes one, the
organisation's API key) and, half of the time, with path ids of real objects,
so the views run on generated input rather than stopping at a 404.

Outcome: at least 1,000 requests, no 5xx, every error in the one error shape.
Derandomized, so a failure reproduces; failures are collected and listed
together rather than shrunk one by one.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from server.api.routing import OPERATIONS
from server.auth import ANY, API_KEY_AUTH, DEVICE, PUBLIC, USER
from tests.security.test_tenant_matrix import ObjectFinder, build_org

MIN_REQUESTS = 1_000
# Spread over the operations, so the run stays about as long as routes are added.
TARGET_REQUESTS = 1_200
MIN_EXAMPLES_PER_MODE = 10
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def declared() -> dict:
    """The app's operations by (method, OpenAPI path); filled once the app is built."""
    return {(op.method, _CONVERTER.sub(r"{\1}", op.rule)): op for op in OPERATIONS}


class World:
    """An organisation with real objects; re-made when a generated DELETE
    removes what the credentials depend on."""

    def __init__(self, client, make_org, make_user, make_device):
        self.client = client
        self.factories = (make_org, make_user, make_device)
        self.org = build_org(client, *self.factories, "Fuzzed Org")
        self.finder = ObjectFinder(client)
        self.calls = 0

    def refresh(self) -> None:
        admin = self.org.admin
        key = self.client.post("/api/v1/api-keys", headers=admin.headers(), json={"name": "fuzz"})
        if key.status_code != 201:
            # The organisation was closed (or its admin locked out): carry on with another.
            self.org = build_org(self.client, *self.factories, f"Fuzzed Org {self.calls}")
            return
        self.org.api_key = key.json["key"]
        if self.client.get(f"/api/v1/devices/{admin.device_id}", headers=admin.headers(device=True)).status_code != 200:
            created = self.client.post("/api/v1/devices", headers=admin.headers(),
                                       json={"platform": "android", "fcm_token": "fuzz-refresh"})
            assert created.status_code == 201, created.json
            admin.device_id, admin.device_token = created.json["device_id"], created.json["device_token"]
        self.org.ids.clear()

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
        """Generated ids, with the even ones swapped for real objects' ids."""
        if not generated:
            return generated
        real = self.finder.fill(self.org, op.rule, {"device_id": self.org.admin.device_id})
        if real is None:
            return generated
        values = {}
        template_parts, real_parts = op.rule.strip("/").split("/"), real.strip("/").split("/")
        for template, value in zip(template_parts, real_parts):
            match = _CONVERTER.fullmatch(template)
            if match:
                values[match.group(1)] = value
        out = dict(generated)
        for name, value in generated.items():
            if isinstance(value, int) and value % 2 == 0 and name in values:
                out[name] = int(values[name]) if values[name].isdigit() else values[name]
        return out


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
    world = World(client, make_org, make_user, make_device)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", clean_app)
    operations = []
    for result in schema.get_all_operations():
        operations.append(result.ok())  # an Err here means the document itself is broken
    by_path = declared()
    assert {(o.method.upper(), o.path) for o in operations} == set(by_path), \
        "the OpenAPI document and the declared operations disagree"

    examples = max(MIN_EXAMPLES_PER_MODE, math.ceil(TARGET_REQUESTS / (2 * len(operations))))
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
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} on {where}: {response.content[:300]!r}")
                elif response.status_code >= 400:
                    problem = _error_shape_problem(response)
                    if problem:
                        failures.append(f"{problem} on {where}")
                if case.method.upper() == "DELETE" and response.status_code < 300:
                    world.refresh()

            try:
                run()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
                not_negatable.append(operation.label)

    total = sum(sent.values())
    elapsed = time.monotonic() - started
    print(f"\nschemathesis: {total} requests over {len(operations)} operations in {elapsed:.1f}s; "
          f"statuses {dict(sorted(statuses.items()))}; nothing to make invalid in {not_negatable}")
    assert not failures, f"{len(failures)} bad responses:\n" + "\n".join(failures[:40])
    assert total >= MIN_REQUESTS, f"only {total} requests were generated: {dict(sent)}"
    assert all(sent[o.label] for o in operations), f"operations never called: {[o.label for o in operations]}"
    # The credentials were real: generated requests got past authentication and reached the views.
    assert sum(n for code, n in statuses.items() if code < 300) >= len(operations)
