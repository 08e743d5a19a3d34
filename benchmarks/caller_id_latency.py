"""Timing requests for the Caller ID benchmark: one keep-alive HTTP
connection timed request by request (`KeepAlive`), percentiles (`pct`,
`summary`), the service and the bare app alternated request by request
(`alternate_lookups`, for this benchmark and `caller_id_embedded.py`), with the
LIKE scan inside PostgreSQL at one index size (`measure_size`), the CPU per
request of each app's gunicorn, PostgreSQL and Redis (`measure_cpu`), and the
targets met or missed at the end of a run (`report_checks`, for both)."""
from __future__ import annotations

import gc
import http.client
import json
import socket
import statistics
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from benchmarks.caller_id_data import SUFFIX_DIGITS
from tests.processes import cpu_seconds, group_cpu_seconds, tree_cpu_seconds
from tests.topology import Topology


# --------------------------------------------------------------------------------------------
# HTTP with keep-alive
# --------------------------------------------------------------------------------------------
class KeepAlive:
    """One persistent HTTP/1.1 connection; reconnects (untimed) when the server closed it."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                        "User-Agent": "callsync-benchmark/1.0"}
        self.conn: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def _connect(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, int]:
        """(status, body, nanoseconds from sending to the last byte read)."""
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            if self.conn is None or self.conn.sock is None:
                self._connect()
                if attempt:
                    self.reconnects += 1
            try:
                started = time.perf_counter_ns()
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter_ns() - started
            except (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                continue
            if response.will_close:
                self.conn.close()
                self.conn = None
            return response.status, data, elapsed
        raise RuntimeError(f"{method} {path}: the server kept closing the connection")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------
def pct(values_ns: list[int], q: float) -> float:
    """Percentile in ms (nearest rank)."""
    if not values_ns:
        return float("nan")
    ordered = sorted(values_ns)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank] / 1e6


def summary(values_ns: list[int]) -> dict:
    return {"n": len(values_ns), "p50": pct(values_ns, 50), "p90": pct(values_ns, 90), "p99": pct(values_ns, 99),
            "max": max(values_ns) / 1e6 if values_ns else float("nan"),
            "mean": statistics.fmean(values_ns) / 1e6 if values_ns else float("nan")}


# --------------------------------------------------------------------------------------------
# One size
# --------------------------------------------------------------------------------------------
EXACT_SQL = "SELECT record_type, record_id FROM record_phones WHERE organization_id = %s AND e164 = %s"
LIKE_SQL = ("SELECT record_type, record_id, e164 FROM record_phones "
            "WHERE organization_id = %s AND e164 LIKE '%%' || %s")


def alternate_lookups(service: KeepAlive, bare: KeepAlive, org_id: int, lookups: list, *, warmup: int,
                      deadline: float) -> dict:
    """Caller ID against the bare app (`benchmarks/caller_id_bare.py`), request by
    request, alternating which goes first, after `warmup` untimed pairs, until
    the look-ups run out or `deadline` (time.monotonic()) passes. Returns the
    timings of each (`summary`), the outcomes and the reconnections."""
    def ask_service(number: str) -> tuple[dict, int]:
        status, body, ns = service.request("GET", "/api/v1/caller-id?number=" + urllib.parse.quote(number))
        if status != 200:
            raise RuntimeError(f"caller-id -> {status} {body[:300]!r}")
        return json.loads(body), ns

    def ask_bare(e164: str) -> tuple[dict, int]:
        status, body, ns = bare.request("GET", f"/caller-id?org={org_id}&number=" + urllib.parse.quote(e164))
        if status != 200:
            raise RuntimeError(f"bare -> {status} {body[:300]!r}")
        return json.loads(body), ns

    for _, number, e164 in lookups[:warmup]:
        ask_service(number)
        ask_bare(e164)
    caller, reference = [], []
    outcomes = {"hit_found": 0, "hit_total": 0, "miss_none": 0, "miss_suffix": 0, "miss_total": 0,
                "shared": 0, "wrong_number": 0, "bare_disagrees": 0}
    gc.collect()
    gc.disable()
    try:
        for i, (kind, number, e164) in enumerate(lookups[warmup:]):
            if time.monotonic() > deadline:
                print(f"  time budget reached after {i} samples", flush=True)
                break
            if i % 2 == 0:                      # alternate which goes first
                result, ns = ask_service(number)
                found, ns_bare = ask_bare(e164)
            else:
                found, ns_bare = ask_bare(e164)
                result, ns = ask_service(number)
            caller.append(ns)
            reference.append(ns_bare)
            outcomes["wrong_number"] += result["number"] != e164
            match = result["match"]
            if kind == "miss":
                outcomes["miss_total"] += 1
                outcomes["miss_none" if match is None else "miss_suffix"] += 1
            else:
                outcomes["hit_total"] += 1
                outcomes["hit_found"] += match is not None or bool(result["candidates"])
                outcomes["shared"] += bool(match and match["record_type"] == "shared")
                # An exact hit: the bare app finds rows for the number too.
                if match and match.get("grade") == "exact":
                    outcomes["bare_disagrees"] += not found["matches"]
    finally:
        gc.enable()
    return {"caller_id": summary(caller), "bare": summary(reference), "outcomes": outcomes,
            "reconnects": service.reconnects + bare.reconnects}


def measure_size(http: KeepAlive, bare: KeepAlive, pg, org_id: int, lookups: list, *, warmup: int,
                 like_samples: int, deadline: float) -> dict:
    """`alternate_lookups`; then, inside PostgreSQL alone (EXPLAIN ANALYZE
    execution time), the exact index probe against a LIKE scan."""
    timed = alternate_lookups(http, bare, org_id, lookups, warmup=warmup, deadline=deadline)

    def executed_ns(query: str, params) -> int:
        plan = pg.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Execution Time"] * 1e6)

    pg.execute("SET statement_timeout = '30s'")  # a LIKE scan that hangs must not hold the run
    server_probe, server_like = [], []
    for k, (_, _, e164) in enumerate(lookups[warmup:][:50]):
        server_probe.append(executed_ns(EXACT_SQL, (org_id, e164)))
        if k < like_samples:
            server_like.append(executed_ns(LIKE_SQL, (org_id, e164[-SUFFIX_DIGITS:])))
    return {"caller_id": timed["caller_id"], "bare": timed["bare"], "pg_index_probe": summary(server_probe),
            "pg_like": summary(server_like), "outcomes": timed["outcomes"], "reconnects": timed["reconnects"]}


def service_cpu(topo: Topology) -> dict:
    return {"gunicorn": topo.web_cpu_seconds(), "postgres": tree_cpu_seconds(topo.postgres.proc.pid),
            "redis": cpu_seconds(topo.redis.proc.pid)}


def measure_cpu(topo: Topology, http: KeepAlive, bare: KeepAlive, bare_pgid: int, org_id: int, lookups: list,
                n: int) -> dict:
    """CPU per request, one app at a time (n requests each): what the machine's
    load cannot blur. Milliseconds of CPU per request of each app's gunicorn
    (master and workers), PostgreSQL and Redis."""
    out = {}
    written = [urllib.parse.quote(number) for _, number, _ in lookups]
    e164s = [urllib.parse.quote(e164) for _, _, e164 in lookups]
    apps = (("caller_id", http, lambda i: "/api/v1/caller-id?number=" + written[i % len(written)]),
            ("bare", bare, lambda i: f"/caller-id?org={org_id}&number=" + e164s[i % len(e164s)]))
    for name, conn, path_for in apps:
        for i in range(20):
            conn.request("GET", path_for(i))
        before = {**service_cpu(topo), "bare_gunicorn": group_cpu_seconds(bare_pgid)}
        for i in range(n):
            status, body, _ = conn.request("GET", path_for(i))
            assert status == 200, body[:300]
        after = {**service_cpu(topo), "bare_gunicorn": group_cpu_seconds(bare_pgid)}
        cpu = {k: (after[k] - before[k]) * 1000 / n for k in before}
        if name == "bare":  # the app that served the requests is the bare one
            cpu["gunicorn"] = cpu["bare_gunicorn"]
        cpu.pop("bare_gunicorn")
        out[name] = cpu
    return out


# --------------------------------------------------------------------------------------------
# The end of a run
# --------------------------------------------------------------------------------------------
def report_checks(checks: list[tuple[str, bool, str]], results: dict, json_path: Path | None,
                  run_started: float, notes: Iterable[str] = ()) -> int:
    """Print each target met or MISSED (then `notes`, lines printed as they are)
    and the whole run's seconds; write `results` with the checks to
    `json_path` (--json) if given. The exit status: 1 when a target is missed."""
    for name, ok, value in checks:
        print(f"  [{'met   ' if ok else 'MISSED'}] {name}: {value}")
    for note in notes:
        print(note)
    print(f"whole run {time.monotonic() - run_started:.0f}s")
    if json_path:
        results["checks"] = [{"target": n, "met": ok, "value": v} for n, ok, v in checks]
        json_path.write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(ok for _, ok, _ in checks) else 1
