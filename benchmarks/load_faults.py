"""Fault injection for the load run: the fake FCM with per-device answers
and a log of every answer (`LoadFcm`), and the fault schedule that runs during
the load while supervising the RQ workers (`FaultDriver`)."""
from __future__ import annotations

import threading
import time

from benchmarks.load_phones import SimPhone
from tests.fake_fcm import ERRORS, FakeFcm


# ----------------------------------------------------------------------------------------------
# The fake FCM, with per-device answers and a log of every answer.
# ----------------------------------------------------------------------------------------------
class LoadFcm(FakeFcm):
    """`FakeFcm` whose `dead` tokens always get UNREGISTERED (the scripted
    storm is left for the others), logging token, push id, status and
    Retry-After of every request with its arrival and answer times."""

    def __init__(self, project: str = "load-project"):
        self.dead: set[str] = set()
        self.answers: list[dict] = []
        self._tls = threading.local()
        super().__init__(project)

    def _record(self, handler, body):
        message = body.get("message") or {}
        data = message.get("data") or {}
        self._tls.meta = {"arrived": time.time(), "token": message.get("token") or message.get("fid"),
                          "push_id": data.get("push_id"), "kind": data.get("kind"),
                          "shape": f"{handler.path} message keys {sorted(message)}, data keys {sorted(data)}"}
        super()._record(handler, body)

    def _next(self):
        meta = dict(self._tls.meta)
        with self._lock:
            if meta["token"] in self.dead:
                item = "UNREGISTERED"
            else:
                item = self._script.popleft() if self._script else "ok"
            self._count += 1
            count = self._count
        name, retry_after = item if isinstance(item, tuple) else (item, None)
        if name == "ok":
            status, payload, headers = 200, {"name": f"projects/{self.project}/messages/{count}"}, {}
        else:
            status, grpc_status, code = ERRORS[name]
            payload = {"error": {"code": status, "status": grpc_status, "message": f"fake {name}", "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}}
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        meta.update(status=status, retry_after=retry_after, answered=time.time())
        with self._lock:
            self.answers.append(meta)
        return status, payload, headers


# ----------------------------------------------------------------------------------------------
# Faults.
# ----------------------------------------------------------------------------------------------
class FaultDriver:
    """Runs the fault schedule during the load and supervises the RQ workers."""

    def __init__(self, topo, fcm: LoadFcm, phones: list[SimPhone], seconds: float, log):
        self.topo, self.fcm, self.phones, self.seconds, self.log = topo, fcm, phones, seconds, log
        self.events: list[tuple[float, str]] = []
        self.worker_restarts: list[tuple[float, int, str]] = []
        self.dead_phones: list[SimPhone] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._paused = threading.Event()
        self.started = 0.0

    def note(self, text: str) -> None:
        at = time.monotonic() - self.started
        self.events.append((round(at, 1), text))
        self.log(f"  [{at:5.1f}s] {text}")

    def supervise(self) -> None:
        """What a process supervisor does: start again a worker that exited."""
        while not self._stop.wait(0.5):
            if self._paused.is_set():
                continue
            for index, proc in enumerate(self.topo.workers):
                if not proc.alive():
                    code = proc.popen.poll() if proc.popen else None
                    tail = proc.tail(3).replace("\n", " | ")[-300:]
                    try:
                        proc.start()
                        self.worker_restarts.append((round(time.monotonic() - self.started, 1), index, tail))
                        self.note(f"supervisor: worker-{index} had exited (code {code}); started again")
                    except Exception as err:  # reported; the drain will show what it cost
                        self.errors.append(f"restarting worker-{index}: {err}")

    def _at(self, fraction: float) -> bool:
        """Sleep until `fraction` of the load has passed; False if stopped."""
        wait = self.started + fraction * self.seconds - time.monotonic()
        return not self._stop.wait(max(0.0, wait))

    def _worker_in_transaction(self, name: str) -> bool:
        rows = self.topo.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n "
                             "AND xact_start IS NOT NULL AND state <> 'idle'", n=name)
        return bool(rows and rows[0][0])

    def run(self) -> None:
        self.started = time.monotonic()
        threading.Thread(target=self.supervise, daemon=True, name="supervisor").start()
        try:
            self._schedule()
        except Exception as err:  # a fault that could not be made is a failed run, not a crash
            self.errors.append(f"fault schedule: {type(err).__name__}: {err}")
            self.note(f"fault schedule stopped: {err}")

    def _schedule(self) -> None:
        if not self._at(0.10):
            return
        self.fcm.script(*[("UNAVAILABLE", 1)] * 6)
        self.note("FCM storm: the next 6 sends get 503 with Retry-After: 1")
        if not self._at(0.20):
            return
        self._paused.set()
        deadline, inside = time.monotonic() + 5, False
        while time.monotonic() < deadline and not inside:
            inside = self._worker_in_transaction("worker-0")
            if not inside:
                time.sleep(0.01)
        self.topo.kill_worker(0)
        self.note(f"worker-0 killed with SIGKILL ({'inside a transaction' if inside else 'while idle'})")
        time.sleep(1.0)
        self.topo.restart_worker(0, timeout=60)
        self._paused.clear()
        self.note("worker-0 started again")
        if not self._at(0.30):
            return
        count = max(1, len(self.phones) // 10)
        self.dead_phones = self.phones[-count:]
        with self.fcm._lock:
            self.fcm.dead.update(p.fcm_token for p in self.dead_phones)
        self.note(f"FCM: the tokens of {count} devices are now UNREGISTERED")
        for phone in self.dead_phones:  # their phones ring: the push finds the token gone
            threading.Thread(target=phone.ring, daemon=True).start()
        if not self._at(0.40):
            return
        self._paused.set()
        self.topo.stop_redis()
        self.note("Redis stopped")
        time.sleep(2.0)
        self.topo.start_redis()
        self._paused.clear()
        self.note("Redis started again on the same port (empty: no persistence)")
        if not self._at(0.58):
            return
        self.fcm.script(*[("QUOTA_EXCEEDED", 2)] * 3)
        self.note("FCM storm: the next 3 sends get 429 with Retry-After: 2")
        # The database fails over while those pushes wait out their Retry-After:
        # their retries reach FCM while PostgreSQL is down.
        time.sleep(0.5)
        self.topo.postgres.stop()
        self.note("PostgreSQL stopped (fast shutdown)")
        time.sleep(2.0)
        self.topo.postgres.start()
        self.note("PostgreSQL started again on the same port")
        if not self._at(0.80):
            return
        self.fcm.script(*[("UNAVAILABLE", 1), ("QUOTA_EXCEEDED", 1)] * 3)
        self.note("FCM storm: 6 more 503/429 with Retry-After: 1")

    def stop(self) -> None:
        self._stop.set()
