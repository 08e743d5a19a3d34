"""A shortened load run and fault run (`benchmarks/load.py`) in the suite.

Each test starts its own production topology on loopback (PostgreSQL, Redis,
gunicorn, two RQ workers, a fake FCM) and drives simulated phones and
managers through it, then checks the invariants in the database: every call
a phone got accepted stored once and processed, no job left behind, every
ringing push recorded once per device and sent once, /metrics agreeing; with
faults (a worker killed, Redis and PostgreSQL restarted, FCM storms) also
dead tokens removed and FCM retries spaced by Retry-After.

It brings up its own PostgreSQL, so it runs in the suite's SQLite pass only
(scripts/test's PostgreSQL pass runs tests/api, tests/jobs, tests/web and tests/security).
About 70 s and 110 s on two busy cores; every wait inside is bounded.
"""
from __future__ import annotations

import pytest

from benchmarks.load import Options, run

pytestmark = pytest.mark.topology


def _assert_invariants(report) -> None:
    """Fail with every broken invariant, the whole report and the service logs."""
    if report.ok:
        print(report.text)  # the figures, with -s
        return
    failed = "\n".join(f"  {c.name}: {c.detail}" for c in report.failures)
    pytest.fail(f"{len(report.failures)} invariant(s) failed:\n{failed}\n\n{report.text}\n\n"
                f"service logs:\n{report.logs}", pytrace=False)


@pytest.mark.timeout(240)
def test_ten_phones_and_two_managers_for_twenty_seconds_lose_and_repeat_nothing():
    report = run(Options(phones=10, seconds=20, drain_timeout=90, flush_seconds=20, quiet=True))
    assert sum(e["requests"] for e in report.endpoints) > 100, report.text
    assert report.facts["rings"] > 0 and report.facts["calls_stored"] > 1000, report.text
    _assert_invariants(report)


@pytest.mark.timeout(300)
def test_worker_kill_redis_and_postgres_restarts_and_fcm_storms_lose_and_repeat_nothing():
    report = run(Options(phones=10, seconds=35, faults=True, drain_timeout=100, flush_seconds=30, quiet=True))
    assert len(report.events) >= 10, report.text  # every fault was made
    _assert_invariants(report)
