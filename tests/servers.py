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
    message = f"{what} is not installed; scripts/test installs it as root ({install})"
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


def _nginx_binary() -> str | None:
    # Debian puts nginx in /usr/sbin, which is not on every user's PATH.
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


class NginxServer:
    """nginx in the foreground on 127.0.0.1:`port`, serving `site`: text for
    nginx's http context (server and upstream blocks) whose `listen` is that
    port. Its pid, logs and request buffers live in a temporary directory."""

    def __init__(self, site: str, port: int):
        binary = _nginx_binary()
        if binary is None:
            missing("nginx", install="apt-get install -y nginx")
        self.binary = binary
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="test-nginx-")
        # As root, nginx's workers run as an unprivileged user: they must reach their buffers in here.
        os.chmod(self.dir, 0o755)
        self.config = os.path.join(self.dir, "nginx.conf")
        self.error_log = os.path.join(self.dir, "error.log")
        with open(self.config, "w") as f:
            f.write(self._main_config(site))
        self.proc = None
        self.start()

    def _main_config(self, site: str) -> str:
        temp = "\n".join(f"    {kind}_temp_path {os.path.join(self.dir, kind)};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (f"daemon off;\nworker_processes 1;\npid {self.dir}/nginx.pid;\n"
                f"error_log {self.error_log} warn;\n"
                "events { worker_connections 1024; }\n"
                f"http {{\n    access_log {self.dir}/access.log;\n{temp}\n{site}\n}}\n")

    def _args(self, *extra: str) -> list[str]:
        return [self.binary, "-p", self.dir, "-c", self.config, "-e", self.error_log, *extra]

    def start(self) -> None:
        check = subprocess.run(self._args("-t", "-q"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused its configuration:\n{check.stdout}")
        self.proc = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(self.port, timeout=10)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"nginx did not listen on {self.port}:\n{self.log()}") from None

    def log(self) -> str:
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # fast shutdown: the master stops its workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
