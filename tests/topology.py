"""The production topology on loopback, for fault tests and benchmarks.

    with Topology(web_workers=2, rq_workers=1) as topo:
        topo.base_url            # gunicorn, "server:create_app()", gunicorn.conf.py
        topo.kill_worker(0)      # SIGKILL an RQ worker (`flask --app server worker`)
        topo.restart_worker(0)
        topo.stop_redis(); topo.start_redis()   # same port
        topo.flask("sweep-outbox")
        topo.sql("SELECT count(*) FROM calls")

PostgreSQL and Redis come from `tests.servers` (skipped locally when missing,
a failure with CI=true). Every process runs in its own process group with
APP_ENV=production, so teardown reaches gunicorn's workers too. Every wait is
bounded; everything listens on 127.0.0.1 only.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.processes import ROOT, Proc, cpu_seconds, group_cpu_seconds
from tests.servers import PostgresServer, RedisServer, free_port

# /metrics needs a bearer token in production; the benchmarks scrape with it.
METRICS_TOKEN = "topology-metrics-token"


class TopologyError(RuntimeError):
    pass


class Topology:
    """PostgreSQL + Redis + `flask db upgrade` + gunicorn + K RQ workers."""

    def __init__(self, *, web_workers: int = 2, web_threads: int = 4, rq_workers: int = 1,
                 scheduler: bool = False, env: dict | None = None, log_level: str = "WARNING",
                 start_timeout: float = 60.0, keep_logs: bool = False, statement_stats: bool = False,
                 durable_postgres: bool = False, app: str = "server:create_app()"):
        self.app = app  # what gunicorn serves (a benchmark may add a baseline route to the service)
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.rq_worker_count = rq_workers
        self.want_scheduler = scheduler
        self.extra_env = env or {}
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.keep_logs = keep_logs
        self.want_statement_stats = statement_stats
        self.durable_postgres = durable_postgres
        self.dir = Path(tempfile.mkdtemp(prefix="topology-"))
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.web: Proc | None = None
        self.workers: list[Proc] = []
        self.scheduler: Proc | None = None
        self.port = free_port()
        self._engine = None
        self._redis_client = None

    # -- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> "Topology":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self.postgres = PostgresServer(durable=self.durable_postgres)
        if self.want_statement_stats:
            self._enable_statement_stats()
        self.redis = RedisServer()
        result = self.flask("db", "upgrade", timeout=120)
        if result.returncode != 0:
            raise TopologyError(f"flask db upgrade failed:\n{result.stdout[-3000:]}")
        self.start_web()
        for _ in range(self.rq_worker_count):
            self.workers.append(self._new_worker(len(self.workers)))
        for index in range(len(self.workers)):
            self.start_worker(index)
        if self.want_scheduler:
            self.scheduler = Proc("scheduler", self._flask_args("scheduler"), self.env("scheduler"),
                                  self.dir / "scheduler.log")
            self.scheduler.start()
        self.wait_healthy(self.start_timeout)
        self.wait_workers(self.start_timeout)

    def close(self) -> None:
        """Stop everything, newest first; never raises, always bounded."""
        for proc in [self.scheduler, *self.workers, self.web]:
            if proc is not None:
                try:
                    proc.stop(grace=5)
                except Exception:  # teardown must reach every process
                    pass
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._redis_client is not None:
            try:
                self._redis_client.close()
            except Exception:
                pass
            self._redis_client = None
        for server in (self.redis, self.postgres):
            if server is not None:
                try:
                    server.close()
                except Exception:
                    pass
        self.redis = self.postgres = None
        if not self.keep_logs:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- configuration ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def env(self, application_name: str = "cli") -> dict:
        """The production environment every process gets. `application_name`
        shows in pg_stat_activity, so tests can see which process holds what."""
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        env.update({
            "DATABASE_URL": f"{self.postgres.url}?application_name={application_name}",
            "REDIS_URL": self.redis.url,
            "DATA_DIR": str(self.dir / "data"),
            "SECRET_KEY": "topology-secret-key-not-for-real-use",
            "APP_ENV": "production",
            "METRICS_TOKEN": METRICS_TOKEN,
            "LOG_LEVEL": self.log_level,
            "WEB_CONCURRENCY": str(self.web_workers),
            "WEB_THREADS": str(self.web_threads),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.pop("SMTP_URL", None)
        env.update(self.extra_env)
        return env

    @staticmethod
    def _flask_args(*args: str) -> list[str]:
        return [sys.executable, "-m", "flask", "--app", "server", *args]

    def flask(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run one `flask --app server ...` command with the topology's environment."""
        return subprocess.run(self._flask_args(*args), env=self.env("cli"), cwd=ROOT, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)

    def sweep_outbox(self, min_age: int = 0, timeout: float = 60.0) -> int:
        """`flask sweep-outbox`: queue again every upload not yet processed."""
        result = self.flask("sweep-outbox", "--min-age", str(min_age), timeout=timeout)
        if result.returncode != 0:
            raise TopologyError(f"flask sweep-outbox failed:\n{result.stdout[-3000:]}")
        return int(result.stdout.strip().splitlines()[-1].split()[0])

    # -- gunicorn ---------------------------------------------------------------------------
    def start_web(self) -> None:
        args = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.web_workers),
                "--threads", str(self.web_threads), "--graceful-timeout", "5",
                # gunicorn 27's control socket defaults to ~/.gunicorn/gunicorn.ctl, shared by every
                # gunicorn of the user: keep this one's apart.
                "--control-socket", str(self.dir / "gunicorn.ctl"), self.app]
        self.web = Proc("web", args, self.env("web"), self.dir / "web.log")
        self.web.start()

    def web_cpu_seconds(self) -> float:
        """CPU of gunicorn's master and live workers."""
        return group_cpu_seconds(self.web.pid) if self.web and self.web.alive() else 0.0

    def health(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            try:
                return err.code, json.loads(err.read())
            except ValueError:
                return err.code, {}
        except (OSError, ValueError):
            return 0, {}

    def wait_healthy(self, timeout: float = 30.0) -> dict:
        """Until /healthz answers 200 (database and Redis reachable)."""
        deadline = time.monotonic() + timeout
        status, body = 0, {}
        while time.monotonic() < deadline:
            if self.web is None or not self.web.alive():
                raise TopologyError(f"gunicorn exited:\n{self.web.tail() if self.web else ''}")
            status, body = self.health()
            if status == 200:
                return body
            time.sleep(0.1)
        raise TopologyError(f"/healthz not healthy within {timeout}s (last: {status} {body}):\n{self.web.tail()}")

    # -- RQ workers -------------------------------------------------------------------------
    def _new_worker(self, index: int) -> Proc:
        name = f"worker-{index}"
        return Proc(name, self._flask_args("worker"), self.env(name), self.dir / f"{name}.log")

    def start_worker(self, index: int) -> Proc:
        proc = self.workers[index]
        if proc.alive():
            return proc
        proc.start()
        return proc

    def add_worker(self) -> int:
        self.workers.append(self._new_worker(len(self.workers)))
        self.start_worker(len(self.workers) - 1)
        return len(self.workers) - 1

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL the worker: no warm shutdown, its job and transaction cut off."""
        proc = self.workers[index]
        proc.cpu_before_exit += cpu_seconds(proc.pid) if proc.alive() else 0.0
        proc.kill()

    def restart_worker(self, index: int = 0, timeout: float = 30.0) -> None:
        proc = self.workers[index]
        if proc.alive():
            self.kill_worker(index)
        proc.start()
        self.wait_workers(timeout, indexes=[index])

    def ensure_workers(self, timeout: float = 30.0) -> list[int]:
        """Start again every worker that exited (what a process supervisor does);
        return the indexes restarted."""
        dead = [i for i, proc in enumerate(self.workers) if not proc.alive()]
        for index in dead:
            self.workers[index].start()
        if dead:
            self.wait_workers(timeout, indexes=dead)
        return dead

    def worker_cpu_seconds(self) -> float:
        """CPU used by the RQ workers, including ones killed along the way."""
        return sum(p.cpu_before_exit + (cpu_seconds(p.pid) if p.alive() else 0.0) for p in self.workers)

    def redis_client(self):
        if self._redis_client is None:
            from redis import Redis

            self._redis_client = Redis.from_url(self.redis.url, socket_connect_timeout=2, socket_timeout=5)
        return self._redis_client

    def registered_worker_pids(self) -> set[int]:
        from rq import Worker

        return {w.pid for w in Worker.all(connection=self.redis_client())}

    def wait_workers(self, timeout: float = 30.0, indexes=None) -> None:
        """Until each worker process has registered with Redis (it is taking jobs)."""
        wanted = [self.workers[i] for i in (indexes if indexes is not None else range(len(self.workers)))]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in wanted:
                if not proc.alive():
                    raise TopologyError(f"{proc.name} exited:\n{proc.tail()}")
            try:
                if {p.pid for p in wanted} <= self.registered_worker_pids():
                    return
            except Exception:  # Redis restarting: try again
                pass
            time.sleep(0.1)
        raise TopologyError(f"workers not registered within {timeout}s:\n" + "\n".join(p.tail() for p in wanted))

    def queued_jobs(self) -> int:
        from rq import Queue

        return sum(Queue(name, connection=self.redis_client()).count for name in ("push", "default", "maintenance"))

    def started_jobs(self) -> int:
        """Jobs a worker has taken and not finished (or was killed in)."""
        from rq import Queue
        from rq.registry import StartedJobRegistry

        return sum(StartedJobRegistry(queue=Queue(name, connection=self.redis_client())).count
                   for name in ("push", "default", "maintenance"))

    # -- Redis ------------------------------------------------------------------------------
    def stop_redis(self) -> None:
        """Stop Redis (its data goes with it: no persistence, like a lost cache node)."""
        if self._redis_client is not None:
            self._redis_client.close()
            self._redis_client = None
        self.redis.stop()

    def start_redis(self) -> None:
        """Start Redis again on the same port."""
        self.redis.start()

    # -- PostgreSQL -------------------------------------------------------------------------
    def engine(self):
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            self._engine = create_engine(f"{self.postgres.url}?application_name=test-probe", poolclass=NullPool)
        return self._engine

    def sql(self, query: str, **params) -> list:
        """Rows of one read-only query, for assertions."""
        from sqlalchemy import text

        with self.engine().connect() as conn:
            return list(conn.execute(text(query), params))

    def scalar(self, query: str, **params):
        rows = self.sql(query, **params)
        return rows[0][0] if rows else None

    def execute(self, query: str, rows: list[dict] | dict | None = None) -> None:
        """Write (seed data), in one committed transaction."""
        from sqlalchemy import text

        with self.engine().begin() as conn:
            conn.execute(text(query), rows if rows is not None else {})

    def _enable_statement_stats(self) -> bool:
        """Load pg_stat_statements (needs a restart), so a benchmark can say
        which statements PostgreSQL spent its time on."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        library = Path(self.postgres.bindir).parent / "lib" / "pg_stat_statements.so"
        if not library.exists():
            return False
        engine = create_engine(self.postgres.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        self.postgres.stop()
        self.postgres.start()
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        engine.dispose()
        self.statement_stats_enabled = True
        return True

    statement_stats_enabled = False

    def reset_statement_stats(self) -> None:
        if self.statement_stats_enabled:
            self.sql("SELECT pg_stat_statements_reset()")

    def statement_stats(self, limit: int = 10) -> list:
        """(calls, total ms, rows, query) of the statements that took PostgreSQL longest."""
        if not self.statement_stats_enabled:
            return []
        return self.sql("SELECT calls, total_exec_time, rows, query FROM pg_stat_statements "
                        "WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT :n",
                        n=limit)

    def logs(self) -> str:
        parts = []
        for proc in [self.web, *self.workers, self.scheduler]:
            if proc is not None:
                parts.append(f"--- {proc.name} ---\n{proc.tail()}")
        return "\n".join(parts)
