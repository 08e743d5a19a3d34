"""The options and the report of a load run: `Options` (what was asked), `Report` (the checks, facts and figures), the
figures per endpoint from the timed requests (`summarise`) and the text printed
at the end (`render`)."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from benchmarks.load_phones import Stats


@dataclass
class Options:
    phones: int = 50
    seconds: float = 60.0
    faults: bool = False
    managers: int = 2
    think: float = 1.0
    web_workers: int = 3
    web_threads: int = 4
    rq_workers: int = 2
    drain_timeout: float = 180.0
    flush_seconds: float = 30.0
    seed: int = 1
    quiet: bool = False
    keep_logs: bool = False


@dataclass
class Report:
    options: Options
    checks: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    endpoints: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    logs: str = ""
    text: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list:
        return [c for c in self.checks if not c.ok]


def _percentile(sorted_values: list, q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarise(stats: Stats, seconds: float) -> tuple[list, dict, dict]:
    endpoints, errors, totals = [], Counter(), Counter()
    for (method, rule), samples in sorted(stats.latency.items(), key=lambda kv: -len(kv[1])):
        times = sorted(s for s, status in samples if status)
        statuses = Counter(status for _, status in samples)
        bad = {s: n for s, n in statuses.items() if s == 0 or s >= 500 or s == 429}
        for s, n in statuses.items():
            if s == 0 or s >= 400:
                errors[s] += n
        totals["requests"] += len(samples)
        endpoints.append({"endpoint": f"{method} {rule}", "requests": len(samples),
                          "per_s": len(samples) / seconds if seconds else 0.0,
                          "p50_ms": _percentile(times, 0.50) * 1000, "p99_ms": _percentile(times, 0.99) * 1000,
                          "max_ms": (times[-1] * 1000) if times else float("nan"),
                          "statuses": dict(sorted(statuses.items())), "errors": sum(bad.values())})
    return endpoints, dict(sorted(errors.items())), dict(totals)


def render(report: Report) -> str:
    o, f, t = report.options, report.facts, report.timings
    lines = [f"\n== load run: {o.phones} phones + {o.managers} managers for {o.seconds:.0f}s, gunicorn "
             f"{o.web_workers}x{o.web_threads}, {o.rq_workers} RQ workers, faults {'ON' if o.faults else 'off'} =="]
    load_s = t.get("load", o.seconds) or 1
    requests = sum(e["requests"] for e in report.endpoints)
    lines.append(f"throughput: {requests:,} requests in {load_s:.1f}s = {requests / load_s:,.1f} req/s; "
                 f"{f.get('calls_accepted_by_phones', 0):,} call rows accepted "
                 f"({f.get('calls_accepted_by_phones', 0) / load_s:,.0f} rows/s); {f.get('rings', 0):,} rings; "
                 f"{f.get('push_messages', 0):,} pushes, {f.get('fcm_requests', 0):,} FCM requests")
    lines.append(f"{'endpoint':<46}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    for e in report.endpoints:
        lines.append(f"{e['endpoint']:<46}{e['requests']:>9,}{e['per_s']:>8.1f}{e['p50_ms']:>9.1f}"
                     f"{e['p99_ms']:>9.1f}{e['max_ms']:>9.1f}  {e['statuses']}")
    lines.append(f"errors by status (0 = no answer): {report.errors or 'none'}")
    phones = f.get("phone_totals", {})
    if phones:
        lines.append(f"phones: {phones['batches_ok']:,} batches accepted ({phones['batches_retried']:,} needed a "
                     f"retry, {phones['given_up']:,} attempts given up and kept queued), "
                     f"accepted {phones['accepted']:,}, duplicates {phones['duplicates']:,}, "
                     f"rejected {phones['rejected']:,}")
    if f.get("manager_decisions"):
        lines.append(f"managers: {f['manager_decisions']}")
    lines.append(f"pushes by (kind, status): {f.get('push_statuses')}; FCM answers by status: {f.get('fcm_statuses')};"
                 f" sends after the message's TTL: {f.get('sends_after_ttl', 0)}")
    if report.events:
        lines.append("faults:")
        lines += [f"  {at:6.1f}s  {text}" for at, text in report.events]
        lines.append(f"  worker restarts by the supervisor: {f.get('worker_restarts') or 0}")
    if f.get("failed_jobs"):
        lines.append(f"failed jobs ({len(f['failed_jobs'])}) by error, as evidence:")
        lines += [f"  {n:4} x {kind}" for kind, n in sorted(f["failed_job_kinds"].items(), key=lambda kv: -kv[1])]
    if f.get("log_evidence"):
        lines.append(f"service logs: {f['log_evidence']}")
    lines.append("invariants:")
    for c in report.checks:
        lines.append(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
    lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items())
                 + f"; machine load average (1/5/15 min) before {f.get('load_average_before')}, "
                   f"after {f.get('load_average_after')} on {os.cpu_count()} cores")
    lines.append("RESULT: " + ("all invariants hold" if report.ok else f"{len(report.failures)} invariant(s) FAILED"))
    return "\n".join(lines)
