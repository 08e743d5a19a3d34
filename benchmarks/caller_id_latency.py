"""Timing requests for the Caller ID benchmark: one keep-alive HTTP
connection timed request by request (`KeepAlive`), percentiles (`pct`,
`summary`), the interleaved samples at one index size (`measure_size`) and the
CPU per request of gunicorn, PostgreSQL and Redis (`measure_cpu`)."""
from __future__ import annotations

import gc
import http.client
import json
import socket
import statistics
import time
import urllib.parse

from benchmarks.caller_id_data import SUFFIX_DIGITS
from tests.processes import cpu_seconds, tree_cpu_seconds
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
def measure_size(http: KeepAlive, pg, org_id: int, lookups: list, *, warmup: int, like_samples: int,
                 deadline: float) -> dict:
    like_sql = ("SELECT record_type, record_id, e164 FROM record_phones "
                "WHERE organization_id = %s AND e164 LIKE '%%' || %s")
    exact_sql = "SELECT record_type, record_id FROM record_phones WHERE organization_id = %s AND e164 = %s"
    suffix_sql = ("SELECT record_type, record_id, e164 FROM record_phones WHERE organization_id = %s "
                  "AND suffix = %s LIMIT 50")

    def lookup(number: str) -> tuple[int, dict, int]:
        status, body, ns = http.request("GET", "/api/v1/caller-id?number=" + urllib.parse.quote(number))
        if status != 200:
            raise RuntimeError(f"caller-id -> {status} {body[:300]!r}")
        return status, json.loads(body), ns

    def ping() -> int:
        status, body, ns = http.request("GET", "/api/v1/ping")
        if status != 200:
            raise RuntimeError(f"ping -> {status} {body[:300]!r}")
        return ns

    def lookup_like(number: str) -> tuple[dict, int]:
        """The same request served through a LIKE scan (benchmarks/like_baseline.py)."""
        status, body, ns = http.request("GET", "/api/v1/caller-id-like?number=" + urllib.parse.quote(number))
        if status != 200:
            raise RuntimeError(f"caller-id-like -> {status} {body[:300]!r}")
        return json.loads(body), ns

    def sql_time(query: str, params) -> tuple[int, list]:
        started = time.perf_counter_ns()
        rows = pg.execute(query, params).fetchall()
        return time.perf_counter_ns() - started, rows

    pg.execute("SET statement_timeout = '30s'")  # a LIKE scan that hangs must not hold the run
    warm, measured = lookups[:warmup], lookups[warmup:]
    for kind, number, e164 in warm:
        lookup(number)
        ping()
    for _, _, e164 in warm[:20]:
        sql_time(exact_sql, (org_id, e164))
        sql_time(suffix_sql, (org_id, e164[-SUFFIX_DIGITS:]))
    sql_time(like_sql, (org_id, warm[0][2][-SUFFIX_DIGITS:]))   # the table in the OS cache, as the look-ups had it
    lookup_like(warm[0][1])

    caller, pings, likes, likes_http, probes = [], [], [], [], []
    like_disagrees = 0
    outcomes = {"hit_found": 0, "hit_total": 0, "miss_none": 0, "miss_suffix": 0, "miss_total": 0,
                "shared": 0, "wrong_number": 0}
    every = max(1, len(measured) // max(1, like_samples))
    gc.collect()
    gc.disable()
    try:
        for i, (kind, number, e164) in enumerate(measured):
            if time.monotonic() > deadline:
                print(f"  time budget reached after {i} samples", flush=True)
                break
            if i % 2 == 0:                      # alternate which goes first
                _, result, ns = lookup(number)
                pings.append(ping())
            else:
                pings.append(ping())
                _, result, ns = lookup(number)
            caller.append(ns)
            if result["number"] != e164:
                outcomes["wrong_number"] += 1
            match = result["match"]
            if kind == "miss":
                outcomes["miss_total"] += 1
                outcomes["miss_none" if match is None else "miss_suffix"] += 1
            else:
                outcomes["hit_total"] += 1
                outcomes["hit_found"] += match is not None or bool(result["candidates"])
                outcomes["shared"] += bool(match and match["record_type"] == "shared")
            suffix = e164[-SUFFIX_DIGITS:]  # every generated number's NSN is >= 7 digits
            # The index probes the look-up issues (exact; suffix when no exact row), for reference.
            ns_exact, rows = sql_time(exact_sql, (org_id, e164))
            if not rows:
                ns_exact += sql_time(suffix_sql, (org_id, suffix))[0]
            probes.append(ns_exact)
            if i % every == every - 1 and len(likes) < like_samples:
                likes.append(sql_time(like_sql, (org_id, suffix))[0])
                like_result, ns_like = lookup_like(number)
                likes_http.append(ns_like)
                like_disagrees += _answer(like_result) != _answer(result)
    finally:
        gc.enable()

    def executed_ns(query: str, params) -> int:
        plan = pg.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Execution Time"] * 1e6)

    # Inside PostgreSQL alone (EXPLAIN ANALYZE execution time): the index probe vs the LIKE scan.
    server_probe, server_like = [], []
    for k, (_, _, e164) in enumerate(measured[:50]):
        server_probe.append(executed_ns(exact_sql, (org_id, e164)))
        if k < 5:
            server_like.append(executed_ns(like_sql, (org_id, e164[-SUFFIX_DIGITS:])))
    return {"caller_id": summary(caller), "ping": summary(pings), "like": summary(likes),
            "like_http": summary(likes_http), "like_disagrees": like_disagrees,
            "index_sql": summary(probes), "pg_index_probe": summary(server_probe), "pg_like": summary(server_like),
            "outcomes": outcomes, "reconnects": http.reconnects,
            "_raw": {"caller_id": caller, "ping": pings}}


def _answer(result: dict) -> tuple:
    """What the caller sees: the number, the match and the candidates (ids)."""
    match = result["match"] or {}
    return (result["number"], match.get("record_type"), match.get("record_id"), match.get("grade"),
            sorted((c["record_type"], c["record_id"]) for c in result["candidates"]))


def service_cpu(topo: Topology) -> dict:
    return {"gunicorn": topo.web_cpu_seconds(), "postgres": tree_cpu_seconds(topo.postgres.proc.pid),
            "redis": cpu_seconds(topo.redis.proc.pid), "client": time.process_time()}


def measure_cpu(topo: Topology, http: KeepAlive, lookups: list, n: int) -> dict:
    """CPU per request, endpoint by endpoint (n requests each): what the machine's
    load cannot blur. Milliseconds of CPU per request for gunicorn, PostgreSQL,
    Redis and this client."""
    out = {}
    numbers = [number for _, number, _ in lookups]
    for name, path_for in (("ping", lambda i: "/api/v1/ping"),
                           ("caller_id", lambda i: "/api/v1/caller-id?number=" + urllib.parse.quote(
                               numbers[i % len(numbers)]))):
        for i in range(20):
            http.request("GET", path_for(i))
        before = service_cpu(topo)
        for i in range(n):
            status, body, _ = http.request("GET", path_for(i))
            assert status == 200, body[:300]
        after = service_cpu(topo)
        out[name] = {k: (after[k] - before[k]) * 1000 / n for k in before}
    return out
