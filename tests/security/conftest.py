"""The security suite: tenant and role matrix, unauthenticated walk, token
replay, bad input, schemathesis (stateless and stateful) and injection strings.

The fixtures of tests/conftest.py apply here as everywhere; the manager's-page
helpers of tests/web/conftest.py are shared by importing them, so the pages are
signed into the same way in both suites.

Size of the generated runs: `SECURITY_FUZZ=ci` (the default) keeps the whole
package to a couple of minutes; `SECURITY_FUZZ=nightly` gives at least 1,000
schemathesis cases per operation and a long stateful run. See `fuzz_size`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from tests.web.conftest import page_team  # noqa: F401  (a fixture, shared with tests/web)


@dataclass(frozen=True)
class FuzzSize:
    name: str
    cases_per_operation: int  # stateless schemathesis cases per operation, both modes together
    stateful_scenarios: int  # state-machine runs (hypothesis examples)
    stateful_steps: int  # at most this many steps per scenario


SIZES = {
    "ci": FuzzSize("ci", cases_per_operation=24, stateful_scenarios=40, stateful_steps=12),
    "nightly": FuzzSize("nightly", cases_per_operation=1_000, stateful_scenarios=1_500, stateful_steps=30),
}


def fuzz_size() -> FuzzSize:
    """The size chosen by SECURITY_FUZZ (ci or nightly), each figure overridable:
    SECURITY_FUZZ_CASES, SECURITY_FUZZ_SCENARIOS, SECURITY_FUZZ_STEPS."""
    name = os.environ.get("SECURITY_FUZZ", "ci").strip().lower() or "ci"
    if name not in SIZES:
        raise pytest.UsageError(f"SECURITY_FUZZ must be one of {sorted(SIZES)}, not {name!r}")
    base = SIZES[name]
    return FuzzSize(
        name,
        int(os.environ.get("SECURITY_FUZZ_CASES", base.cases_per_operation)),
        int(os.environ.get("SECURITY_FUZZ_SCENARIOS", base.stateful_scenarios)),
        int(os.environ.get("SECURITY_FUZZ_STEPS", base.stateful_steps)),
    )


def pytest_report_header(config):
    size = fuzz_size()
    return (f"security fuzz size: {size.name} ({size.cases_per_operation} cases per operation, "
            f"{size.stateful_scenarios} stateful scenarios of up to {size.stateful_steps} steps)")
