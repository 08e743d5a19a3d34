"""The optional profiles of the Caller ID benchmark: the same requests in
process under cProfile with SQL statements and Redis round trips counted
(`profile_lookups`, --profile), and py-spy samples of gunicorn's workers
attributed by library and by application function (`spy_profile`, --py-spy)."""
from __future__ import annotations

import json
import os
import time
import urllib.parse
from pathlib import Path

from benchmarks.caller_id_latency import KeepAlive
from benchmarks.caller_id_ringing import SignallingFcm
from tests.processes import ROOT
from tests.topology import Topology


def profile_lookups(topo: Topology, token: str, lookups: list, out: Path, n: int) -> None:
    """The same requests in this process under cProfile, with SQL statements and
    Redis commands counted per request."""
    import cProfile
    import io
    import pstats

    out.mkdir(parents=True, exist_ok=True)
    for key, value in topo.env("profile").items():
        if key in ("DATABASE_URL", "REDIS_URL", "DATA_DIR", "SECRET_KEY", "APP_ENV", "LOG_LEVEL", "FCM_CREDENTIALS",
                   "FCM_PROJECT_ID", "FCM_URL"):
            os.environ[key] = value
    from sqlalchemy import event
    from redis.client import Redis

    from server import create_app
    from server.extensions import db

    app = create_app()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    counts = {"sql": 0, "sql_ns": 0, "redis": 0}
    statements: dict[str, int] = {}
    cache: dict[str, int] = {}
    started_at: dict = {}
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        started_at[id(cursor)] = time.perf_counter_ns()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        counts["sql"] += 1
        key = " ".join(statement.split())
        statements[key] = statements.get(key, 0) + 1
        stats = context._get_cache_stats().split(" ")[0] if context is not None else "none"
        cache[stats] = cache.get(stats, 0) + 1
        counts["sql_ns"] += time.perf_counter_ns() - started_at.pop(id(cursor), time.perf_counter_ns())

    original = Redis.execute_command

    def counting(self, *args, **kwargs):
        counts["redis"] += 1
        return original(self, *args, **kwargs)

    Redis.execute_command = counting
    original_pipe = None
    try:
        from redis.client import Pipeline

        original_pipe = Pipeline.execute

        def counting_pipe(self, *args, **kwargs):
            counts["redis"] += 1
            return original_pipe(self, *args, **kwargs)

        Pipeline.execute = counting_pipe
    except ImportError:
        pass

    def run(path_for, items, name):
        for item in items[:50]:                       # warm up
            client.get(path_for(item), headers=headers)
        for key in counts:
            counts[key] = 0
        statements.clear()
        cache.clear()
        chosen = items[50:50 + n]
        profiler = cProfile.Profile()
        started = time.perf_counter_ns()
        profiler.enable()
        for item in chosen:
            response = client.get(path_for(item), headers=headers)
            assert response.status_code == 200, response.data[:300]
        profiler.disable()
        n_done = len(chosen)
        elapsed = (time.perf_counter_ns() - started) / n_done / 1e6
        profiler.dump_stats(out / f"{name}.prof")
        print(f"\n{name}, in process under cProfile: {elapsed:.3f} ms/request (profiler on); per request "
              f"{counts['sql'] / n_done:.1f} SQL statements ({counts['sql_ns'] / n_done / 1e6:.3f} ms in the driver + "
              f"PostgreSQL), {counts['redis'] / n_done:.1f} Redis round trips")
        print(f"  SQLAlchemy compiled cache: {cache}")
        for statement, count in sorted(statements.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {count / n_done:5.2f}/request  {statement[:400]}")
        stream = io.StringIO()
        pstats.Stats(str(out / f"{name}.prof"), stream=stream).sort_stats("cumulative").print_stats(
            r"server/|mobile_sync/|schemas/|sqlalchemy/orm/context|sqlalchemy/sql/compiler|psycopg/cursor|"
            r"phonenumbers/phonenumberutil|marshmallow/schema|redis/client", 30)
        print(stream.getvalue())

    try:
        run(lambda item: "/api/v1/caller-id?number=" + urllib.parse.quote(item[1]), lookups, "caller_id")
        run(lambda item: "/api/v1/ping", lookups, "ping")
    finally:
        Redis.execute_command = original
        if original_pipe is not None:
            from redis.client import Pipeline

            Pipeline.execute = original_pipe


# Innermost frame -> who spends the CPU (py-spy --full-filenames frames).
LIBRARIES = [("/phonenumbers/", "phonenumbers"), ("/marshmallow/", "marshmallow (schemas)"),
             ("/psycopg/", "psycopg (driver)"), ("/sqlalchemy/", "SQLAlchemy (build, compile cache, ORM)"),
             ("/redis/", "redis client"), ("/rq/", "rq"), ("/firebase_admin/", "firebase-admin + HTTP"),
             ("/requests/", "firebase-admin + HTTP"), ("/urllib3/", "firebase-admin + HTTP"),
             ("/google/", "firebase-admin + HTTP"), ("/prometheus_client/", "prometheus_client"),
             ("/gunicorn/", "gunicorn"), ("/werkzeug/", "Flask / werkzeug"), ("/flask/", "Flask / werkzeug"),
             ("/flask_sqlalchemy/", "Flask / werkzeug"), ("/json/", "json"),
             (str(ROOT / "server") + "/", "application code"), (str(ROOT / "mobile_sync") + "/", "application code"),
             (str(ROOT / "schemas") + "/", "application code")]


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    return [f for f in stack.split(";") if f], int(count)


def spy_profile(topo: Topology, token: str, lookups: list, fcm: "SignallingFcm", py_spy: str, out: Path,
                seconds: float) -> dict:
    """py-spy samples of threads holding the GIL (--gil: running Python, not
    waiting) while one thing runs at a time: caller-id alone and ping alone
    (gunicorn's workers), then rings (gunicorn and the RQ worker). CPU per
    request by library (innermost frame) and by application function (inclusive)."""
    import subprocess

    out.mkdir(parents=True, exist_ok=True)
    numbers = [number for _, number, _ in lookups]
    http = KeepAlive(topo.port, token)

    def ring(i: int) -> None:
        status, raw, _ = http.request("POST", "/api/v1/calls/ringing",
                                      json.dumps({"number": numbers[i % len(numbers)]}).encode())
        assert status == 202, raw[:300]
        fcm.wait_for(json.loads(raw)["push_id"], timeout=10)

    phases = [
        ("ping", topo.web.pid, lambda i: http.request("GET", "/api/v1/ping")),
        ("caller_id", topo.web.pid,
         lambda i: http.request("GET", "/api/v1/caller-id?number=" + urllib.parse.quote(numbers[i % len(numbers)]))),
        ("ringing.gunicorn", topo.web.pid, ring),   # the request and the dispatcher's send (RQ is only the fallback)
    ]
    report = {}
    rate = 250
    try:
        for name, pid, drive in phases:
            raw = out / f"{name}.pyspy.txt"
            spy = subprocess.Popen([py_spy, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate),
                                    "--format", "raw", "--gil", "--full-filenames", "--nolineno", "--output", str(raw),
                                    "--duration", str(int(seconds))], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.5)                     # attached
            done, started = 0, time.monotonic()
            while spy.poll() is None and time.monotonic() - started < seconds + 15:
                drive(done)
                done += 1
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
            if not raw.exists():
                print(f"  py-spy wrote nothing: {spy.stderr.read().decode()[-500:]}")
                return report
            by_lib: dict[str, int] = {}
            by_fn: dict[str, int] = {}
            total = 0
            for line in raw.read_text().splitlines():
                frames, count = _frames(line)
                frames = [f for f in frames if not f.startswith("process ")]
                total += count
                owner = "other"
                for frame in reversed(frames):
                    hit = next((label for pattern, label in LIBRARIES if pattern in frame), None)
                    if hit:
                        owner = hit
                        break
                by_lib[owner] = by_lib.get(owner, 0) + count
                seen = set()
                for frame in frames:
                    if str(ROOT) + "/" in frame and "site-packages" not in frame:
                        fn = frame.replace(str(ROOT) + "/", "")
                        if fn not in seen:
                            seen.add(fn)
                            by_fn[fn] = by_fn.get(fn, 0) + count
            per = lambda samples: samples / rate * 1000 / max(1, done)  # noqa: E731
            report[name] = {"requests": done, "ms_per_request": per(total),
                            "by_library_ms": {k: per(v) for k, v in sorted(by_lib.items(), key=lambda kv: -kv[1])},
                            "by_function_ms": {k: per(v) for k, v in
                                               sorted(by_fn.items(), key=lambda kv: -kv[1])[:25]}}
            print(f"\n  py-spy {name}: {per(total):.2f} ms holding the GIL per request over {done} requests "
                  f"({total} samples at {rate} Hz; stacks in {raw})")
            print("    by library (innermost frame):")
            for label, ms in report[name]["by_library_ms"].items():
                print(f"      {ms:6.3f} ms  {label}")
            print("    by application function (inclusive):")
            for fn, ms in list(report[name]["by_function_ms"].items())[:20]:
                print(f"      {ms:6.3f} ms  {fn}")
    finally:
        http.close()
    return report
