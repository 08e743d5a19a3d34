"""Real servers for the tests, started on loopback on free ports.

PostgreSQL and Redis run as child processes in a temporary directory and are
stopped at the end of the session. When a binary is missing the test is
skipped locally, but with CI=true it fails: CI must never skip silently.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, install: str = "apt-get install -y redis-server postgresql") -> None:
    """Skip a test whose server or tool is not here; with CI=true, fail it."""
    message = f"{what} is not installed; .ci/run installs it ({install})"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout}s")


class RedisServer:
    def __init__(self):
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server")
        self.dir = tempfile.mkdtemp(prefix="test-redis-")
        self.port = free_port()
        self.binary = binary
        self.proc = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bindir() -> str | None:
    for name in ("initdb", "pg_ctl", "postgres"):
        found = shutil.which(name)
        if found:
            return os.path.dirname(os.path.realpath(found))
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    return candidates[0] if candidates else None


class PostgresServer:
    """A throw-away PostgreSQL cluster; as root it runs as the `postgres` user.

    Tests trade durability for speed (no fsync); `durable=True` keeps
    PostgreSQL's own defaults, as in production (benchmarks).
    """

    def __init__(self, durable: bool = False):
        self.durable = durable
        bindir = _pg_bindir()
        if bindir is None or not os.path.exists(os.path.join(bindir, "initdb")):
            missing("PostgreSQL")
        self.bindir = bindir
        self.dir = tempfile.mkdtemp(prefix="test-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._run([os.path.join(bindir, "initdb"), "-D", self.data, "-U", "test", "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8"])
        self.proc = None
        self.start()
        self._run([os.path.join(bindir, "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "test",
                   "callsync"])

    def _preexec(self):
        if self.user is not None:
            os.setgid(self.user.pw_gid)
            os.setuid(self.user.pw_uid)

    def _run(self, args):
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=self._preexec, cwd=self.dir)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://test@127.0.0.1:{self.port}/callsync"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port), "-h", "127.0.0.1",
             "-k", self.dir, "-c", "max_connections=200",
             *([] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=self._preexec, cwd=self.dir)
        wait_for_port(self.port)
        time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            self.proc.wait(30)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
