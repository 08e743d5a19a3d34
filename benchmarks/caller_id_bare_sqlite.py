"""The fixed reference of the embedded caller-ID benchmark
(`benchmarks/caller_id_embedded.py`): a bare Flask app that imports nothing
from the project and serves one indexed SELECT of a number from a SQLite file
holding the same numbers, names and companies as the service's phone index.

    BARE_SQLITE_PATH=/tmp/.../bare.db gunicorn --config gunicorn.conf.py ... \
        "benchmarks.caller_id_bare_sqlite:create_app()"

GET /caller-id?org=<organisation id>&number=<E.164>: the rows of that number
as JSON. No authentication, no normalisation, no audit: the floor that HTTP,
gunicorn, Flask and one SQLite probe cost. Never part of the service.
"""
from __future__ import annotations

import os
import sqlite3
import threading

from flask import Flask, jsonify, request

SCHEMA = """
CREATE TABLE IF NOT EXISTS numbers (organization_id INTEGER NOT NULL, e164 TEXT NOT NULL,
                                    record_type TEXT NOT NULL, record_id INTEGER NOT NULL, name TEXT, company TEXT);
CREATE INDEX IF NOT EXISTS numbers_org_e164 ON numbers (organization_id, e164);
"""
LOOKUP = "SELECT record_type, record_id, name, company FROM numbers WHERE organization_id = ? AND e164 = ?"


def create_app() -> Flask:
    path = os.environ["BARE_SQLITE_PATH"]
    local = threading.local()
    app = Flask(__name__)

    def connection() -> sqlite3.Connection:
        found = getattr(local, "connection", None)
        if found is None:
            found = local.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        return found

    @app.get("/caller-id")
    def caller_id():
        rows = connection().execute(LOOKUP, (int(request.args["org"]), request.args["number"])).fetchall()
        return jsonify({"number": request.args["number"],
                        "matches": [{"record_type": t, "record_id": i, "name": n, "company": c}
                                    for t, i, n, c in rows]})

    return app
