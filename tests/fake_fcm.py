"""A fake FCM HTTP v1 server on 127.0.0.1, for the real firebase-admin client.

`script(*responses)` queues what the next sends get: "ok", or an FCM error
("UNREGISTERED", "QUOTA_EXCEEDED", "UNAVAILABLE", "INVALID_ARGUMENT", ...),
optionally with a Retry-After. Every request is recorded with its time.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "UNREGISTERED"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    "UNAVAILABLE": (503, "UNAVAILABLE", "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL", "INTERNAL"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "INVALID_TOKEN": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
}


class FakeFcm:
    def __init__(self, project: str = "test-project"):
        self.project = project
        self.requests: list[dict] = []
        self._script: deque = deque()
        self._lock = threading.Lock()
        self._count = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm the
            # second waited ~40 ms for the client's delayed ACK. FCM does not.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake._record(self, body)
                status, payload, headers = fake._next()
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/projects/{{0}}/messages:send"

    def _record(self, handler, body):
        with self._lock:
            self.requests.append({"at": time.monotonic(), "path": handler.path,
                                  "authorization": handler.headers.get("Authorization"), "body": body})

    def _next(self):
        with self._lock:
            item = self._script.popleft() if self._script else "ok"
            self._count += 1
            count = self._count
        name, retry_after = item if isinstance(item, tuple) else (item, None)
        if name == "ok":
            return 200, {"name": f"projects/{self.project}/messages/{count}"}, {}
        status, grpc_status, code = ERRORS[name]
        message = "The registration token is not a valid FCM registration token" if name == "INVALID_TOKEN" \
            else f"fake {name}"
        payload = {"error": {"code": status, "status": grpc_status, "message": message, "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}}
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return status, payload, headers

    def script(self, *responses) -> None:
        with self._lock:
            self._script.extend(responses)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
