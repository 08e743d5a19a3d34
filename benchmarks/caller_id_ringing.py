"""Ringing -> push for the Caller ID benchmark: the fake FCM server that
signals each push's arrival (`SignallingFcm`) and the rings timed from the
request to that arrival (`measure_ringing`)."""
from __future__ import annotations

import json
import random
import threading
import time

from benchmarks.caller_id_latency import KeepAlive, service_cpu, summary
from tests.fake_fcm import FakeFcm
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


def measure_ringing(topo: Topology, token: str, fcm: SignallingFcm, numbers: list[str], *, warmup: int,
                    gap_s: float, deadline: float) -> dict:
    http = KeepAlive(topo.port, token)
    to_fcm, accepted, after_202, lost = [], [], [], 0
    cpu_before = None
    try:
        for i, number in enumerate(numbers):
            if time.monotonic() > deadline and i > warmup:
                print(f"  time budget reached after {i - warmup} rings", flush=True)
                break
            if i == warmup:
                cpu_before = {**service_cpu(topo), "worker": topo.worker_cpu_seconds()}
            body = json.dumps({"number": number}).encode()
            sent = time.monotonic()
            status, raw, ns = http.request("POST", "/api/v1/calls/ringing", body)
            if status != 202:
                raise RuntimeError(f"ringing -> {status} {raw[:300]!r}")
            push_id = json.loads(raw)["push_id"]
            answered = time.monotonic()
            arrived = fcm.wait_for(push_id, timeout=10)
            if i >= warmup:
                accepted.append(ns)
                if arrived is None:
                    lost += 1
                else:
                    to_fcm.append(int((arrived - sent) * 1e9))
                    after_202.append(int((arrived - answered) * 1e9))
            time.sleep(gap_s * random.uniform(0.5, 1.5))
    finally:
        http.close()
    cpu = {}
    if cpu_before is not None and accepted:
        time.sleep(0.2)
        after = {**service_cpu(topo), "worker": topo.worker_cpu_seconds()}
        cpu = {k: (after[k] - cpu_before[k]) * 1000 / len(accepted) for k in after}
    return {"to_fcm": summary(to_fcm), "accepted": summary(accepted), "after_202": summary(after_202),
            "lost": lost, "cpu_ms": cpu}
