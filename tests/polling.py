"""Waiting, bounded, for something another thread or process does."""
from __future__ import annotations

import time


def wait_until(predicate, timeout: float = 10.0, what: str = "it"):
    """Poll `predicate` every 20 ms; return its first truthy value, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
