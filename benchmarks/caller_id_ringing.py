"""Ringing -> push for the Caller ID benchmark: the fake FCM server that
signals each push's arrival (`SignallingFcm`), and the service's rings and the
bare app's, alternated and timed from the request to that arrival
(`measure_ringing`)."""
from __future__ import annotations

import json
import random
import threading
import time

from benchmarks.caller_id_latency import KeepAlive, service_cpu, summary
from tests.fake_fcm import FakeFcm
from tests.processes import group_cpu_seconds
from tests.topology import Topology


class SignallingFcm(FakeFcm):
    """FakeFcm that wakes the benchmark when a push arrives (by push_id).

    It answers with TCP_NODELAY, as FCM's front ends do: http.server writes a
    response's headers and body in two sends, and with Nagle's algorithm the
    body waited for the client's delayed ACK, so every send took ~40 ms more
    and a sender could not keep up with a ring every 25 ms."""

    def __init__(self, project: str):
        super().__init__(project)
        self.server.RequestHandlerClass.disable_nagle_algorithm = True
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()

    def _record(self, handler, body):
        at = time.monotonic()
        super()._record(handler, body)
        data = ((body or {}).get("message") or {}).get("data") or {}
        with self.cond:
            self.arrived[data.get("push_id", "")] = at
            self.cond.notify_all()

    def wait_for(self, push_id: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while push_id not in self.arrived:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.arrived[push_id]


def measure_ringing(topo: Topology, token: str, bare_port: int, bare_pgid: int, fcm: SignallingFcm,
                    numbers: list[str], *, warmup: int, gap_s: float, deadline: float) -> dict:
    """Ring the service and the bare app (`benchmarks/ringing_bare.py`) with the
    same number, alternating which goes first, each timed from sending the
    request to its push arriving at the fake FCM; then the CPU per ring of each
    app's gunicorn (and the service's RQ worker, PostgreSQL and Redis)."""
    http, bare = KeepAlive(topo.port, token), KeepAlive(bare_port, "unused")
    times = {name: {"to_fcm": [], "accepted": [], "after_202": [], "lost": 0} for name in ("service", "bare")}
    targets = {"service": (http, "/api/v1/calls/ringing"), "bare": (bare, "/calls/ringing")}

    def ring(name: str, number: str, timed: bool) -> None:
        conn, path = targets[name]
        sent = time.monotonic()
        status, raw, ns = conn.request("POST", path, json.dumps({"number": number}).encode())
        if status != 202:
            raise RuntimeError(f"{name} ringing -> {status} {raw[:300]!r}")
        answered = time.monotonic()
        arrived = fcm.wait_for(json.loads(raw)["push_id"], timeout=10)
        if timed:
            got = times[name]
            got["accepted"].append(ns)
            if arrived is None:
                got["lost"] += 1
            else:
                got["to_fcm"].append(int((arrived - sent) * 1e9))
                got["after_202"].append(max(0, int((arrived - answered) * 1e9)))
        time.sleep(gap_s * random.uniform(0.5, 1.5))

    def cpu_now() -> dict:
        return {**service_cpu(topo), "worker": topo.worker_cpu_seconds(), "bare_gunicorn": group_cpu_seconds(bare_pgid)}

    cpu_before, rings = None, 0
    try:
        for i, number in enumerate(numbers):
            if time.monotonic() > deadline and i > warmup:
                print(f"  time budget reached after {i - warmup} pairs of rings", flush=True)
                break
            if i == warmup:
                cpu_before = cpu_now()
            order = ("service", "bare") if i % 2 == 0 else ("bare", "service")
            for name in order:
                ring(name, number, timed=i >= warmup)
            rings += i >= warmup
    finally:
        http.close()
        bare.close()
    cpu = {}
    if cpu_before is not None and rings:
        time.sleep(0.2)
        after = cpu_now()
        cpu = {k: (after[k] - cpu_before[k]) * 1000 / rings for k in after}
    out = {name: {"to_fcm": summary(got["to_fcm"]), "accepted": summary(got["accepted"]),
                  "after_202": summary(got["after_202"]), "lost": got["lost"]} for name, got in times.items()}
    out["rings"] = rings
    out["cpu_ms"] = cpu
    return out
