"""schemathesis's state machine over the OpenAPI links, in process.

The links of `/api/v1/openapi.json` (server/openapi.py) chain the operations:
create a lead, then read, change, approve, reject, merge, assign it and add a
note to it; create a contact or a device, then use and delete it, then find it
gone. The state machine walks those chains with generated bodies, as the
admin of one organisation (user token; the phone's own token where only a
device may call), and checks every answer:

- no 5xx, answers that conform to the document (status code, content type,
  body schema), nothing used after its DELETE, nothing just created missing;
- no cross-tenant access: a third of the steps that name an object are sent
  again with the ids of a victim organisation's real objects, and must not
  succeed; the users made by generated sign-ups belong to other organisations
  and must not be readable or changeable; no answer carries the victim's
  canary text; the victim's rows are unchanged at the end.

Size: SECURITY_FUZZ (see fuzz_size.py). Check failures are collected and
listed at the end (not shrunk), with the request that caused each. Seeded
from 0, suite by suite (see `_run_suites`), so a run is repeatable.
"""
from __future__ import annotations

import json
import time
from collections import Counter

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from schemathesis.checks import (content_type_conformance, ensure_resource_availability, not_a_server_error,
                                 response_schema_conformance, status_code_conformance, use_after_free)
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.core.failures import Failure, FailureGroup

from server.auth import ANY, API_KEY_AUTH, DEVICE, PUBLIC, USER
from tests.security import report
from tests.security.fuzz_size import fuzz_size
from tests.security.route_requests import path_params
from tests.security.test_fuzz_openapi import World, declared

# Only the links the document declares (no inferred ones), and the world's real
# credentials rather than generated ones.
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"with-security-parameters": False},
    "phases": {"stateful": {"inference": {"algorithms": []}}},
})
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          use_after_free, ensure_resource_availability]
# One step in this many that names an object is sent again at the victim's object.
FOREIGN_EVERY = 3
MAX_SUITES = 50


class Run:
    """What the state machine did and found."""

    def __init__(self):
        self.scenarios = 0
        self.steps: Counter = Counter()
        self.statuses: Counter = Counter()
        self.failures: list[str] = []
        self.foreign_attempts: Counter = Counter()
        self.foreign_successes: list[str] = []
        self.canary_leaks: list[str] = []
        self.signed_up_users: set[int] = set()


def _where(case) -> str:
    body = "" if case.body is None or isinstance(case.body, NotSet) else f" body={case.body!r}"
    return f"{case.method.upper()} {case.formatted_path} query={case.query!r}{body}"[:400]


def _resend(world: World, op, case, path: str, headers: dict):
    """The same request (method, query, body, credentials) at another path."""
    kwargs = {"headers": headers, "query_string": case.query or {}}
    if case.body is not None and not isinstance(case.body, NotSet):
        if isinstance(case.body, (bytes, str)):
            kwargs["data"], kwargs["content_type"] = case.body, case.media_type or "application/json"
        else:
            kwargs["json"] = case.body
    return world.client.open(path, method=op.method, **kwargs)


def test_linked_operations_keep_to_the_document_and_the_tenant(client, clean_app, make_org, make_user, make_device):
    size = fuzz_size()
    world = World(client, clean_app, make_org, make_user, make_device)
    canary = world.canary
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", clean_app, config=CONFIG)
    by_path = declared()
    run = Run()
    device_tokens: dict[int, str] = {}

    def credentials(op, case) -> dict:
        admin = world.org.admin
        if op.auth == DEVICE:
            device_id = (case.path_parameters or {}).get("device_id")
            token = device_tokens.get(device_id, admin.device_token)
            return {"Authorization": f"Bearer {token}"}
        if op.auth in (USER, ANY):
            return admin.headers()
        if op.auth == API_KEY_AUTH:
            return {"Authorization": f"Bearer {world.org.api_key}"}
        assert op.auth == PUBLIC
        return {}

    class Machine(schema.as_state_machine()):
        def setup(self):
            run.scenarios += 1
            world.refresh()  # whatever the last scenario revoked or locked

        def get_call_kwargs(self, case):
            return {"headers": credentials(by_path[(case.method.upper(), case.path)], case)}

        def after_call(self, response, case):
            super().after_call(response, case)
            op = by_path[(case.method.upper(), case.path)]
            run.steps[case.operation.label] += 1
            run.statuses[response.status_code] += 1
            body = response.content.decode("utf-8", "replace")
            if canary in body:
                run.canary_leaks.append(f"{response.status_code} on {_where(case)}")
            data = _json(response)
            if op.endpoint == "devices.register_device" and response.status_code == 201:
                device_tokens[data["device_id"]] = data["device_token"]
            if op.endpoint == "accounts.signup" and response.status_code == 201:
                run.signed_up_users.add(data["user_id"])  # another organisation's user
            params = case.path_parameters or {}
            if params.get("user_id") in run.signed_up_users:
                run.foreign_attempts[op.rule] += 1
                if response.status_code < 300:
                    run.foreign_successes.append(f"{response.status_code} on {_where(case)}")
            if path_params(op.rule) and sum(run.steps.values()) % FOREIGN_EVERY == 0:
                foreign = world.victim_paths[op.rule]
                again = _resend(world, op, case, foreign, credentials(op, case))
                run.foreign_attempts[op.rule] += 1
                if again.status_code < 300 or canary in again.get_data(as_text=True):
                    run.foreign_successes.append(f"{again.status_code} on {op.method} {foreign} "
                                                 f"(as {_where(case)})")
                if again.status_code >= 500:
                    run.failures.append(f"{again.status_code} on {op.method} {foreign}")

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None,
                                       recorder=self.recorder)
            except FailureGroup as group:
                for failure in group.exceptions:
                    run.failures.append(f"{failure.title} on {_where(case)} -> {response.status_code}: "
                                        f"{failure.message[:300]}")
            except Failure as failure:
                run.failures.append(f"{failure.title} on {_where(case)} -> {response.status_code}: "
                                    f"{failure.message[:300]}")

    started = time.monotonic()
    suites = _run_suites(Machine, size, run)
    elapsed = time.monotonic() - started

    total = sum(run.steps.values())
    linked = {link.source.label for link in _links(schema)} | {link.target.label for link in _links(schema)}
    server_errors = sum(n for code, n in run.statuses.items() if code >= 500)
    print(f"\nschemathesis stateful ({size.name}): {run.scenarios} scenarios in {suites} suites, {total} steps over "
          f"{len(run.steps)} of {len(linked)} linked operations in {elapsed:.1f}s; 5xx: {server_errors}; "
          f"check failures: {len(run.failures)}; cross-tenant: {sum(run.foreign_attempts.values())} attempts, "
          f"{len(run.foreign_successes)} successes; canary leaks: {len(run.canary_leaks)}; "
          f"statuses {dict(sorted(run.statuses.items()))}")
    report.record(f"schemathesis stateful ({size.name})", scenarios=run.scenarios, suites=suites, steps=total,
                  operations=len(run.steps), server_errors=server_errors, check_failures=len(run.failures),
                  cross_tenant_attempts=sum(run.foreign_attempts.values()),
                  cross_tenant_successes=len(run.foreign_successes) + len(run.canary_leaks))
    print("  steps per operation: " + ", ".join(f"{label} {n}" for label, n in sorted(run.steps.items())))
    assert not run.failures, f"{len(run.failures)} check failures:\n" + "\n".join(_unique(run.failures)[:40])
    assert not run.foreign_successes, "cross-tenant successes:\n" + "\n".join(run.foreign_successes[:40])
    assert not run.canary_leaks, "the victim's canary in answers:\n" + "\n".join(run.canary_leaks[:40])
    assert not world.victim_changes(), world.victim_changes()
    # The walk went somewhere: most linked operations were reached, and the victim was aimed at.
    assert len(run.steps) >= 0.6 * len(linked), sorted(linked - set(run.steps))
    assert run.foreign_attempts


def _run_suites(machine, size, run: Run) -> int:
    """Run the state machine until it has played the scenarios asked for; return
    how many suites that took. Hypothesis replays part of a scenario to find
    the next, and the API's answers depend on what earlier scenarios left in the
    database, so a replay can go another way (Flaky): then, as schemathesis' own
    runner does, a new suite starts with the next seed. Seeds count from 0, so a
    run is repeatable."""
    suite = 0
    while run.scenarios < size.stateful_scenarios and suite < MAX_SUITES:
        remaining = size.stateful_scenarios - run.scenarios
        seeded = hypothesis.seed(suite)(machine)
        suite += 1
        try:
            seeded.run(settings=settings(max_examples=remaining, stateful_step_count=size.stateful_steps,
                                         deadline=None, database=None, phases=[Phase.generate],
                                         suppress_health_check=list(HealthCheck)))
        except Flaky:
            continue
        break
    return suite


def _links(schema):
    from schemathesis.core.result import Ok
    from schemathesis.specs.openapi.stateful import collect_transitions

    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    return [link for t in collect_transitions(operations).operations.values() for link in t.outgoing]


def _json(response) -> dict:
    try:
        data = json.loads(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _unique(lines: list[str]) -> list[str]:
    """The first example of each failure on each operation."""
    seen, out = set(), []
    for line in lines:
        key = line.split(" query=")[0]
        if key not in seen:
            seen.add(key)
            out.append(line)
    return out
