"""The HTTP POST of a delivery: to the address checked against SSRF (the
Host header and TLS name stay the URL's host), no redirect followed, a
connect timeout and a total one, at most `max_bytes` of the answer read.

One `Transport` per job keeps a connection per target open, so a batch of
deliveries to one receiver pays one connect."""
from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache

from mobile_sync.webhooks.addresses import Target, UnsafeUrl, check_url, parse_url, system_resolver

MAX_RESPONSE_BYTES = 64 * 1024


@dataclass
class Outcome:
    status: int | None = None  # the HTTP status, None when there was no answer
    error: str | None = None  # a short code: timeout, connection_refused, private, ...
    retry_after_s: float | None = None


class _DeadlineSocket:
    """A socket whose every send and receive waits at most until `deadline`:
    a receiver that drips its answer a byte at a time is cut at the total timeout."""

    def __init__(self, sock):
        self.sock = sock
        self.deadline = float("inf")

    def _wait(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("webhook total timeout")
        self.sock.settimeout(remaining)

    def sendall(self, data):
        self._wait()
        return self.sock.sendall(data)

    def recv_into(self, buffer, nbytes=0):
        self._wait()
        return self.sock.recv_into(buffer, nbytes)

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_DeadlineReader(self))

    def close(self):
        self.sock.close()

    def __getattr__(self, name):
        return getattr(self.sock, name)


class _DeadlineReader(io.RawIOBase):
    def __init__(self, owner: _DeadlineSocket):
        self.owner = owner

    def readable(self):
        return True

    def readinto(self, buffer):
        return self.owner.recv_into(buffer)


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to the checked address; `Host` is the URL's host."""

    def __init__(self, target: Target, connect_timeout: float, tls: ssl.SSLContext | None):
        super().__init__(target.host, target.port, timeout=connect_timeout)
        self.target = target
        self.tls = tls

    def connect(self):
        sock = socket.create_connection((self.target.address, self.target.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=self.target.host)
        self.sock = _DeadlineSocket(sock)


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's store, loaded once a process (75 ms each time)."""
    return ssl.create_default_context()


def retry_after_seconds(value: str | None, now_epoch: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now_epoch)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class Transport:
    def __init__(self, *, allow_loopback: bool, connect_timeout: float = 5.0, total_timeout: float = 15.0,
                 max_bytes: int = MAX_RESPONSE_BYTES, resolve=system_resolver):
        self.allow_loopback = allow_loopback
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.resolve = resolve
        self._connections: dict[tuple, _PinnedConnection] = {}

    def _connection(self, url: str) -> tuple[_PinnedConnection, str, bool]:
        scheme, host, port, path = parse_url(url)
        key = (scheme, host, port)
        conn = self._connections.get(key)
        if conn is not None:
            return conn, path, True
        # A new connection: the host is resolved and checked again, now.
        target = check_url(url, allow_loopback=self.allow_loopback, resolve=self.resolve)
        conn = _PinnedConnection(target, self.connect_timeout, _tls_context() if scheme == "https" else None)
        self._connections[key] = conn
        return conn, path, False

    def _drop(self, url: str) -> None:
        scheme, host, port, _ = parse_url(url)
        conn = self._connections.pop((scheme, host, port), None)
        if conn is not None:
            conn.close()

    def post(self, url: str, body: bytes, headers: dict) -> Outcome:
        """POST `body`; never raises for what the receiver or the network does."""
        for attempt in (1, 2):
            try:
                conn, path, reused = self._connection(url)
            except UnsafeUrl as err:
                return Outcome(error=err.reason)
            try:
                outcome, keep = self._exchange(conn, path, body, headers)
                if not keep:
                    self._drop(url)
                return outcome
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                self._drop(url)
                if reused and attempt == 1:
                    continue  # a kept-alive connection the receiver had closed: once more on a new one
                return Outcome(error=_error_code(err))
            except (OSError, http.client.HTTPException) as err:
                self._drop(url)
                return Outcome(error=_error_code(err))
        return Outcome(error="connection_error")

    def _exchange(self, conn: _PinnedConnection, path: str, body: bytes, headers: dict) -> tuple[Outcome, bool]:
        deadline = time.monotonic() + self.total_timeout
        if conn.sock is None:
            conn.connect()
        conn.sock.deadline = deadline
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(self.max_bytes)  # the answer is not kept; read to reuse the connection
        # More than max_bytes is never read: the connection is dropped instead.
        keep = response.isclosed() and not response.will_close
        return Outcome(status=response.status,
                       retry_after_s=retry_after_seconds(response.getheader("Retry-After"), time.time())), keep

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


def _error_code(err: Exception) -> str:
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(err, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(err, ssl.SSLError):
        return "tls"
    if isinstance(err, http.client.HTTPException):
        return "bad_response"
    return "connection_error"
