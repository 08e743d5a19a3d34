"""The fixed reference of the caller-ID benchmarks: a bare Flask app that
imports nothing from the project and serves one indexed SELECT of a number
from a table holding the same numbers, names and companies as the service's
phone index, in the same kind of database as the service it is compared with.

    BARE_DATABASE_URL=sqlite:////tmp/.../bare.db  gunicorn --config gunicorn.conf.py ... \
        "benchmarks.caller_id_bare:create_app()"
    BARE_DATABASE_URL=postgresql://user@127.0.0.1:5432/db?options=-csearch_path%3Dbare  gunicorn ...

The URL's scheme picks the database: SQLite (the embedded default,
`benchmarks/caller_id_embedded.py`) or PostgreSQL through psycopg (the
production topology, `benchmarks/caller_id.py`, which keeps the table in a
schema of the service's own database). One connection per thread, in
autocommit, as a minimal app would hold them.

GET /caller-id?org=<organisation id>&number=<E.164>: the rows of that number
as JSON. No authentication, no normalisation, no audit: the floor that HTTP,
gunicorn, Flask and one index probe cost. Never part of the service.
"""
from __future__ import annotations

import os
import threading

from flask import Flask, jsonify, request

# Valid in both SQLite and PostgreSQL.
SCHEMA = """
CREATE TABLE IF NOT EXISTS numbers (organization_id INTEGER NOT NULL, e164 TEXT NOT NULL,
                                    record_type TEXT NOT NULL, record_id INTEGER NOT NULL, name TEXT, company TEXT);
CREATE INDEX IF NOT EXISTS numbers_org_e164 ON numbers (organization_id, e164);
"""
LOOKUP = "SELECT record_type, record_id, name, company FROM numbers WHERE organization_id = {0} AND e164 = {0}"
SQLITE_PREFIX = "sqlite:///"


def connector(url: str):
    """(a function opening one connection, the look-up statement in that driver's parameter style)."""
    if url.startswith(SQLITE_PREFIX):
        import sqlite3

        path = url[len(SQLITE_PREFIX):]
        return (lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False)), LOOKUP.format("?")
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        return (lambda: psycopg.connect(url, autocommit=True)), LOOKUP.format("%s")
    raise ValueError("BARE_DATABASE_URL: sqlite:///<path> or postgresql://...")


def create_app() -> Flask:
    connect, lookup = connector(os.environ["BARE_DATABASE_URL"])
    local = threading.local()
    app = Flask(__name__)

    def connection():
        found = getattr(local, "connection", None)
        if found is None:
            found = local.connection = connect()
        return found

    @app.get("/caller-id")
    def caller_id():
        rows = connection().execute(lookup, (int(request.args["org"]), request.args["number"])).fetchall()
        return jsonify({"number": request.args["number"],
                        "matches": [{"record_type": t, "record_id": i, "name": n, "company": c}
                                    for t, i, n, c in rows]})

    return app
