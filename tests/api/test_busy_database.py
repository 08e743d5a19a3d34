"""The embedded SQLite file takes one write transaction at a time. A request
that waits the whole busy timeout for its turn is answered 503 with
Retry-After in the API's error shape, not 500, and goes through once the
lock is gone."""
import sqlite3

import pytest

from tests.conftest import PASSWORD


@pytest.fixture
def impatient_app(request, tmp_path):
    """An app on its own SQLite file that waits only 200 ms for the write lock."""
    if request.config.getoption("--db") != "sqlite":
        pytest.skip("the busy timeout is SQLite's (PostgreSQL locks rows, not the database)")
    from tests.conftest import build_test_app

    path = tmp_path / "busy.db"
    app = build_test_app(f"sqlite:///{path}", str(tmp_path), SQLITE_BUSY_TIMEOUT_MS=200)
    yield app, path
    from server.extensions import db

    with app.app_context():
        db.engine.dispose()


def test_a_request_that_cannot_get_the_write_lock_is_told_to_retry(impatient_app):
    app, path = impatient_app
    client = app.test_client()
    signup = client.post("/api/v1/signup", json={"organization": "Busy Org", "region": "IN", "name": "Admin",
                                                  "email": "busy@example.test", "password": PASSWORD})
    assert signup.status_code == 201
    headers = {"Authorization": f"Bearer {signup.json['token']}"}
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, say a long import
    try:
        busy = client.get("/api/v1/me", headers=headers)
        assert busy.status_code == 503
        assert busy.json == {"error": {"code": "database_busy",
                                       "message": "The service is busy; try again in a few seconds."}}
        assert int(busy.headers["Retry-After"]) >= 1
        refused = client.post("/api/v1/leads", headers=headers, json={"name": "Asha", "phone": "+91 98765 43210"})
        assert refused.status_code == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    created = client.post("/api/v1/leads", headers=headers, json={"name": "Asha", "phone": "+91 98765 43210"})
    assert created.status_code == 201
    assert "last_unhandled_error" not in app.extensions
