"""The access audit written behind the request (AUDIT_WRITE_BEHIND, on in
production): every caller-ID look-up still ends up in the audit, through
Redis, or straight into the database when Redis is away."""
import pytest

from tests.api.test_caller_id import add_contact
from tests.polling import wait_until


@pytest.fixture
def write_behind(clean_app):
    def configure(redis_url):
        clean_app.config.update(REDIS_URL=redis_url, AUDIT_WRITE_BEHIND=True)
        clean_app.extensions.pop("redis_client", None)

    yield configure
    writer = clean_app.extensions.pop("audit_writer", None)
    if writer is not None:
        writer.close(timeout=2)
    clean_app.extensions.pop("redis_client", None)


def test_lookups_reach_the_audit_through_the_writer_thread(make_org, clean_app, redis_server, write_behind):
    import redis

    write_behind(redis_server.url)
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    admin = make_org(region="IN")
    contact_id = add_contact(clean_app, admin.organization_id, "Asha Rao", "+91 98765 43210")
    for _ in range(20):
        assert admin.get("/api/v1/caller-id", query_string={"number": "+91 98765 43210"}).status_code == 200
    pending = wait_until(lambda: (lambda items: items if len(items) == 20 else None)(
        connection.lrange("audit:pending", 0, -1)), what="20 events in Redis")
    assert not any(b"98765" in item or b"Asha" in item for item in pending)
    events = admin.get("/api/v1/audit").json["items"]  # flushes first
    assert [(e["action"], e["object_id"]) for e in events] == [("caller_id.lookup", contact_id)] * 20
    assert connection.llen("audit:pending") == 0


def test_with_redis_away_the_writer_puts_events_in_the_database(make_org, clean_app, write_behind):
    from sqlalchemy import func, select

    from server.extensions import db
    from mobile_sync.store.models import AccessEvent
    from tests.servers import free_port

    write_behind(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    admin = make_org(region="IN")
    add_contact(clean_app, admin.organization_id, "Asha Rao", "+91 98765 43210")
    assert admin.get("/api/v1/caller-id", query_string={"number": "+91 98765 43210"}).status_code == 200

    def stored():
        with clean_app.app_context():
            return db.session.scalar(select(func.count()).select_from(AccessEvent)
                                     .where(AccessEvent.action == "caller_id.lookup"))

    assert wait_until(stored, what="the event in the database") == 1


def test_a_stopping_worker_writes_what_is_still_buffered(make_org, clean_app, redis_server, write_behind):
    import redis

    from server.audit import close_writers

    write_behind(redis_server.url)
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    admin = make_org(region="IN")
    for _ in range(50):
        admin.get("/api/v1/caller-id", query_string={"number": "+91 98765 43210"})
    close_writers(timeout=5)
    assert connection.llen("audit:pending") == 50
