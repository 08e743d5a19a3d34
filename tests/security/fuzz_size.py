"""How long the generated security runs are: SECURITY_FUZZ=ci (the default,
a couple of minutes for the whole package on two shared cores) or
SECURITY_FUZZ=nightly (at least 1,000 schemathesis cases per operation and a
long stateful run). Each figure can be set on its own:
SECURITY_FUZZ_CASES, SECURITY_FUZZ_SCENARIOS, SECURITY_FUZZ_STEPS."""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class FuzzSize:
    name: str
    cases_per_operation: int  # stateless schemathesis cases per operation, both modes together
    stateful_scenarios: int  # state-machine runs (hypothesis examples)
    stateful_steps: int  # at most this many steps per scenario


SIZES = {
    "ci": FuzzSize("ci", cases_per_operation=30, stateful_scenarios=30, stateful_steps=20),
    "nightly": FuzzSize("nightly", cases_per_operation=1_000, stateful_scenarios=600, stateful_steps=30),
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
