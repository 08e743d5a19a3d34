"""Shared fixtures: one app per session on the chosen database (SQLite by
default, a real PostgreSQL with --db=postgresql), a clean database per test,
and factory fixtures that return functions."""
from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

# Helper modules shared by several test modules: their asserts get pytest's
# detailed failure messages too (registered before anything imports them).
pytest.register_assert_rewrite("tests.api.exports", "tests.api.contact_requests", "tests.security.tenants",
                               "tests.security.route_requests")

_TMP = tempfile.mkdtemp(prefix="callsync-tests-")
os.environ.setdefault("DATA_DIR", _TMP)
os.environ.pop("REDIS_URL", None)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("SMTP_URL", None)
os.environ.pop("APP_ENV", None)

PASSWORD = "correct horse battery staple"


def _loopback_only(event, args):
    """Refuse any network connection that is not to this machine."""
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
    else:
        return
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "", "localhost", "::1") or str(host).startswith("127."):
        return
    raise ConnectionRefusedError(f"tests may only connect to loopback, not {host!r}")


sys.addaudithook(_loopback_only)

from mobile_sync.passwords import use_test_parameters  # noqa: E402

use_test_parameters()


def pytest_addoption(parser):
    parser.addoption("--db", default=os.environ.get("TEST_DATABASE", "sqlite"),
                     choices=["sqlite", "postgresql"], help="database the app tests run against")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "topology: starts the production topology (gunicorn, RQ workers, Redis, PostgreSQL) "
        "on loopback; deselect with -m 'not topology'")


def pytest_report_header(config):
    return f"database under test: {config.getoption('--db')}; CI={os.environ.get('CI', '')}"


@pytest.fixture(scope="session")
def redis_server():
    from tests.servers import RedisServer

    server = RedisServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_server():
    from tests.servers import PostgresServer

    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory):
    if request.config.getoption("--db") == "postgresql":
        return request.getfixturevalue("postgres_server").url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def build_test_app(database_url: str, data_dir: str, **overrides):
    import flask_migrate

    from server import create_app

    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATA_DIR": data_dir,
        "OUTBOX_DIR": os.path.join(data_dir, "outbox"),
        "SECRET_KEY": "test-secret",
        "PUBLIC_BASE_URL": "http://testserver",
        "REDIS_URL": None,
        "SMTP_URL": None,
    }
    config.update(overrides)
    app = create_app(config)
    with app.app_context():
        flask_migrate.upgrade()
    return app


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    return build_test_app(database_url, str(tmp_path_factory.mktemp("data")))


def wipe_database(app) -> None:
    from server.extensions import db

    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            else:
                for name in tables:
                    conn.exec_driver_sql(f"DELETE FROM {name}")


@pytest.fixture
def clean_app(app):
    wipe_database(app)
    saved = dict(app.config)
    yield app
    app.config.clear()
    app.config.update(saved)


@pytest.fixture
def client(clean_app):
    return clean_app.test_client()


@pytest.fixture
def clock(clean_app):
    """Set the service's clock: `clock.set(datetime)`; `clock.advance(seconds=...)`."""
    from datetime import timedelta

    class Clock:
        def __init__(self):
            self.now = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
            clean_app.config["NOW"] = lambda: self.now

        def set(self, value: datetime):
            self.now = value

        def advance(self, **kwargs):
            self.now += timedelta(**kwargs)

    return Clock()


@dataclass
class Actor:
    """Someone who calls the API: a user (and maybe one of their devices)."""

    client: object
    user_id: int
    organization_id: int
    email: str
    role: str
    token: str
    device_id: int | None = None
    device_token: str | None = None
    extra: dict = field(default_factory=dict)

    def headers(self, device: bool = False) -> dict:
        return {"Authorization": f"Bearer {self.device_token if device else self.token}"}

    def call(self, method: str, path: str, device: bool = False, **kwargs):
        headers = {**self.headers(device), **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, **kw):
        return self.call("POST", path, **kw)

    def put(self, path, **kw):
        return self.call("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.call("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


_counter = {"n": 0}


def _unique(prefix: str) -> str:
    _counter["n"] += 1
    return f"{prefix}{_counter['n']}"


@pytest.fixture
def make_org(client):
    """make_org(name=..., region=...) -> the organisation's first admin (an Actor)."""

    def make(name: str | None = None, region: str = "IN") -> Actor:
        email = f"{_unique('admin')}@example.test"
        response = client.post("/api/v1/signup", json={
            "organization": name or _unique("Org "), "region": region, "name": "Admin Person",
            "email": email, "password": PASSWORD})
        assert response.status_code == 201, response.json
        body = response.json
        return Actor(client, body["user_id"], body["organization_id"], email, "admin", body["token"])

    return make


@pytest.fixture
def make_user(client, clean_app):
    """make_user(admin, role="rep") -> a teammate in the admin's organisation."""
    from mobile_sync.accounts import create_user, issue_user_token
    from server.extensions import db

    def make(admin: Actor, role: str = "rep", name: str = "Team Mate") -> Actor:
        email = f"{_unique(role)}@example.test"
        with clean_app.app_context():
            user = create_user(db.session, organization_id=admin.organization_id, name=name, email=email,
                               password=PASSWORD, role=role)
            token = issue_user_token(db.session, user)
            db.session.commit()
            user_id = user.id
        return Actor(client, user_id, admin.organization_id, email, role, token)

    return make


@pytest.fixture
def make_device(client):
    """make_device(actor, consent=True) registers a phone and records consent."""

    def make(actor: Actor, consent: bool = True, **fields) -> Actor:
        body = {"platform": "android", "model": "Pixel 8", "os_version": "14", "app_version": "1.0.0",
                "fcm_token": _unique("fcm-token-"), **fields}
        response = actor.post("/api/v1/devices", json=body)
        assert response.status_code == 201, response.json
        actor.device_id = response.json["device_id"]
        actor.device_token = response.json["device_token"]
        if consent:
            version = client.get("/api/v1/consent/policy").json["version"]
            response = actor.put(f"/api/v1/devices/{actor.device_id}/consent", device=True,
                                 json={"contacts": True, "call_log": True, "policy_version": version})
            assert response.status_code == 200, response.json
        return actor

    return make


@pytest.fixture(scope="session")
def fake_fcm_server():
    from tests.fake_fcm import FakeFcm

    server = FakeFcm()
    yield server
    server.close()


@pytest.fixture
def fcm(clean_app, fake_fcm_server):
    """The app sends pushes through the real firebase-admin client to a fake FCM on 127.0.0.1."""
    fake_fcm_server.reset()
    clean_app.config.update({"FCM_CREDENTIALS": "token:test-token", "FCM_PROJECT_ID": fake_fcm_server.project,
                             "FCM_URL": fake_fcm_server.url})
    clean_app.extensions.pop("push_sender", None)
    yield fake_fcm_server
    clean_app.extensions.pop("push_sender", None)
