"""The security suite's figures: each test records its counts (before it
asserts, so a failing run reports too), and the end of the run prints them
with the three totals the suite answers for: cross-tenant successes, server
errors and unescaped injections."""
from __future__ import annotations

FIGURES: dict[str, dict[str, int]] = {}
TOTALS = ("cross_tenant_successes", "server_errors", "unescaped")


def record(name: str, **counts: int) -> None:
    FIGURES[name] = counts


def summary_lines() -> list[str]:
    if not FIGURES:
        return []
    lines = [f"{name}: " + ", ".join(f"{key.replace('_', ' ')} {value:,}" for key, value in counts.items())
             for name, counts in FIGURES.items()]
    totals = {key: sum(counts.get(key, 0) for counts in FIGURES.values()) for key in TOTALS}
    lines.append("security suite: " + ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in totals.items()))
    return lines
