"""The security suite: tenant and role matrix, unauthenticated walk, token
replay, bad input, schemathesis (stateless and stateful) and injection strings.

The fixtures of tests/conftest.py apply here as everywhere; the manager's-page
helpers of tests/web/conftest.py are shared by importing them, so the pages are
signed into the same way in both suites.

Size of the generated runs: `SECURITY_FUZZ=ci` (the default) keeps the whole
package to a couple of minutes; `SECURITY_FUZZ=nightly` gives at least 1,000
schemathesis cases per operation and a long stateful run (tests/security/fuzz_size.py).
"""
from __future__ import annotations

from tests.security import report
from tests.security.fuzz_size import fuzz_size
from tests.web.conftest import page_team  # noqa: F401  (a fixture, shared with tests/web)


def pytest_report_header(config):
    size = fuzz_size()
    return (f"security fuzz size: {size.name} ({size.cases_per_operation} cases per operation, "
            f"{size.stateful_scenarios} stateful scenarios of up to {size.stateful_steps} steps)")


def pytest_terminal_summary(terminalreporter):
    lines = report.summary_lines()
    if lines:
        terminalreporter.section("security figures")
        for line in lines:
            terminalreporter.write_line(line)
