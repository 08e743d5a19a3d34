"""A webhook receiver on 127.0.0.1 for the tests: it verifies every request
with the `standardwebhooks` package (the specification's reference code) and
answers as scripted per path: /ok, /status/<code>[?retry_after=s], /hang,
/big (10 MB), /redirect (to the cloud metadata address)."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.secrets: list[str] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(secret)
                    except WebhookVerificationError:
                        pass
                parts = urlsplit(self.path)
                receiver.requests.append({"path": parts.path, "headers": headers, "body": body,
                                          "verified": verified})
                query = parse_qs(parts.query)
                if parts.path == "/hang":
                    receiver.release.wait(30)
                    return self._answer(204)
                if parts.path == "/big":
                    self.send_response(200)
                    self.send_header("content-length", str(10 * 1024 * 1024))
                    self.end_headers()
                    chunk = b"x" * 65536
                    try:
                        for _ in range(160):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    return
                if parts.path == "/redirect":
                    self.send_response(302)
                    self.send_header("location", "http://169.254.169.254/latest/meta-data/")
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if parts.path.startswith("/status/"):
                    extra = {"retry-after": query["retry_after"][0]} if "retry_after" in query else {}
                    return self._answer(int(parts.path.rsplit("/", 1)[1]), extra)
                if parts.path.startswith("/meta-data"):
                    return self._answer(200)
                return self._answer(204)

            def _answer(self, status, extra=None):
                self.send_response(status)
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
