"""Only the ringing transaction skips the disk flush; every other commit
waits for it. The suite's PostgreSQL runs with `synchronous_commit=off`
everywhere (tests/servers.py), where the two cannot be told apart, so this
module starts its own PostgreSQL with the durable defaults, as in
production, and an app on it. A setting a transaction leaves on its
connection would reach whatever request gets that connection from the pool
next: every idle pooled connection is checked too.

Each commit records the `synchronous_commit` its transaction runs with,
read just before the COMMIT (SQLAlchemy's `commit` event).
"""
from __future__ import annotations

import pytest
from sqlalchemy import event, text

from tests.conftest import PASSWORD, build_test_app
from tests.phone_data import call_row


@pytest.fixture(scope="module")
def durable_app(request, tmp_path_factory):
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's (run with --db=postgresql)")
    from server.extensions import db
    from tests.servers import PostgresServer

    server = PostgresServer(durable=True)
    try:
        app = build_test_app(server.url, str(tmp_path_factory.mktemp("durable")))
        commits: list[str] = []
        with app.app_context():
            engine = db.engine

            @event.listens_for(engine, "commit")
            def record(connection):
                cursor = connection.connection.driver_connection.execute("SHOW synchronous_commit")
                commits.append(cursor.fetchone()[0])

        app.extensions["test_commits"] = commits
        yield app
        with app.app_context():
            db.engine.dispose()
    finally:
        server.close()


@pytest.fixture(scope="module")
def phone(durable_app):
    """A signed-up admin with a consenting phone, on the durable database."""
    client = durable_app.test_client()
    signup = client.post("/api/v1/signup", json={"organization": "Durable Ltd", "region": "IN", "name": "Dara",
                                                 "email": "dara@durable.test", "password": PASSWORD})
    assert signup.status_code == 201, signup.json
    user = {"Authorization": f"Bearer {signup.json['token']}"}
    device = client.post("/api/v1/devices", headers=user, json={
        "platform": "android", "model": "Pixel 8", "os_version": "14", "app_version": "1.0.0",
        "fcm_token": "fcm-durable"})
    assert device.status_code == 201, device.json
    headers = {"Authorization": f"Bearer {device.json['device_token']}"}
    version = client.get("/api/v1/consent/policy").json["version"]
    consent = client.put(f"/api/v1/devices/{device.json['device_id']}/consent", headers=headers,
                         json={"contacts": True, "call_log": True, "policy_version": version})
    assert consent.status_code == 200, consent.json
    return client, headers, user


def commits_of(app, send) -> list[str]:
    """The synchronous_commit of each commit `send()` made."""
    commits = app.extensions["test_commits"]
    commits.clear()
    response = send()
    assert response.status_code < 300, response.json
    return list(commits)


def pooled_settings(app) -> list[str]:
    """synchronous_commit as each connection idle in the pool has it, outside any transaction."""
    from server.extensions import db

    with app.app_context():
        engine = db.engine
        connections = [engine.connect() for _ in range(engine.pool.checkedin())]
        try:
            return [c.exec_driver_sql("SHOW synchronous_commit").scalar() for c in connections]
        finally:
            for connection in connections:
                connection.rollback()
                connection.close()


def test_the_durable_server_flushes_every_commit_by_default(durable_app):
    from server.extensions import db

    with durable_app.app_context():
        assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "on"
        assert db.session.execute(text("SHOW fsync")).scalar() == "on"
        db.session.rollback()


def test_an_upload_and_its_processing_commit_with_the_flush(durable_app, phone):
    client, headers, _ = phone
    commits = commits_of(durable_app, lambda: client.post("/api/v1/sync/calls", headers=headers, json={
        "batch_id": "d1", "calls": [call_row(1, "+91 91234 56789"), call_row(2, "+91 90000 12345")]}))
    # The upload, then its processing run (in process here), then the new-lead pushes.
    assert len(commits) >= 2 and set(commits) == {"on"}, commits


def test_only_the_ringing_transaction_skips_the_flush_and_it_does_not_leak(durable_app, phone):
    client, headers, user = phone
    ringing = commits_of(durable_app, lambda: client.post("/api/v1/calls/ringing", headers=headers,
                                                          json={"number": "+91 91234 56789"}))
    # The ring's own transaction (its push record) only; sending the push afterwards waits for the flush.
    assert ringing.count("off") == 1 and set(ringing) == {"on", "off"}, ringing
    # SET LOCAL ended with the ring's commit: no pooled connection keeps it for the next request.
    idle = pooled_settings(durable_app)
    assert idle and set(idle) == {"on"}, idle
    lookup = commits_of(durable_app, lambda: client.get("/api/v1/caller-id", headers=user,
                                                        query_string={"number": "+91 91234 56789"}))
    upload = commits_of(durable_app, lambda: client.post("/api/v1/sync/calls", headers=headers, json={
        "batch_id": "d2", "calls": [call_row(3, "+91 91234 56789")]}))
    assert lookup and set(lookup) == {"on"}, lookup
    assert upload and set(upload) == {"on"}, upload


def test_a_push_sender_connection_that_failed_goes_back_to_the_pool_flushing(durable_app):
    """The web process's push senders keep a connection of their own with the
    flush off (claims and outcomes: a lost one is sent again by the sweep);
    after an error it is given up, and must not carry that setting into the
    pool, where any request may get it next."""
    from sqlalchemy.exc import DBAPIError

    from mobile_sync.store.push_messages import run_for_sender
    from server.extensions import db

    with durable_app.app_context():
        with pytest.raises(DBAPIError):  # a statement that fails; the connection itself is fine
            run_for_sender(db.session, lambda connection: connection.exec_driver_sql("SELECT 1 / 0"))
    idle = pooled_settings(durable_app)
    with durable_app.app_context():
        db.engine.dispose()  # whatever the outcome, the other tests get fresh connections
    assert idle and set(idle) == {"on"}, idle
