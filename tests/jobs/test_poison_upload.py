"""One upload that processing cannot get through never blocks the
organisation: the run falls back to one upload at a time, the others are
processed, and after three failed runs the bad one is set aside where an
admin sees it (and can queue it again once the cause is fixed)."""
import pytest
from sqlalchemy import select

from tests.jobs.test_group_processing import queued_jobs, run_job, unprocessed_calls, work
from tests.phone_data import call_row


class Poisoned(Exception):
    """A fault no test data of ours triggers: injected for one phone's calls."""


@pytest.fixture
def poison(monkeypatch):
    """poison(device_id): processing any call of that phone raises."""
    from mobile_sync import process_calls

    real = process_calls.apply_auto_lead_rules
    bad = set()

    def rules(session, *, org, calls, now, hash_key):
        if any(call.device_id in bad for call in calls):
            raise Poisoned()
        return real(session, org=org, calls=calls, now=now, hash_key=hash_key)

    monkeypatch.setattr(process_calls, "apply_auto_lead_rules", rules)
    return bad


def test_an_upload_that_keeps_failing_is_set_aside_and_the_others_go_on(
        make_org, make_user, make_device, clean_app, redis_server, poison):
    import redis

    from server.jobs import process_call_uploads
    from mobile_sync.store.models import SyncUpload

    admin = make_org(region="IN")
    ravi, sita = make_device(make_user(admin, name="Ravi")), make_device(make_user(admin, name="Sita"))
    poison.add(ravi.device_id)
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    clean_app.config["REDIS_URL"] = redis_server.url
    clean_app.extensions.pop("redis_client", None)
    try:
        for n, rep in enumerate((ravi, sita, sita)):
            response = rep.post("/api/v1/sync/calls", device=True, json={
                "batch_id": f"b{n}", "calls": [call_row(n + 1, f"+91 9100{n} 2345{n}")]})
            assert response.status_code == 200, response.json
        assert len(queued_jobs(connection)) == 1
        work(clean_app, connection)  # one run for all three uploads fails: then one at a time
    finally:
        clean_app.config["REDIS_URL"] = None
        clean_app.extensions.pop("redis_client", None)
        connection.flushdb()

    # Sita's two uploads went through; Ravi's waits with one failure.
    assert unprocessed_calls(clean_app, admin.organization_id) == 1
    assert {lead["owner_id"] for lead in admin.get("/api/v1/leads").json["items"]} == {sita.user_id}
    assert admin.get("/api/v1/sync/set-aside").json["items"] == []

    for _ in range(2):  # the outbox sweep queues the organisation again; it fails again
        run_job(clean_app, process_call_uploads, admin.organization_id)
    (item,) = admin.get("/api/v1/sync/set-aside").json["items"]
    assert (item["device_id"], item["failures"], item["last_error"]) == (ravi.device_id, 3, "Poisoned")
    assert "number" not in str(item) and "9100" not in str(item)
    # Set aside: runs no longer take it, and later uploads are not held back.
    response = sita.post("/api/v1/sync/calls", device=True, json={"batch_id": "b9",
                                                                   "calls": [call_row(9, "+91 91009 23459")]})
    assert response.status_code == 200
    assert unprocessed_calls(clean_app, admin.organization_id) == 1
    # Reps and managers do not see the admin's list; another organisation cannot retry it.
    assert sita.get("/api/v1/sync/set-aside").status_code == 403
    stranger = make_org(region="IN")
    assert stranger.post(f"/api/v1/sync/set-aside/{item['id']}/retry").status_code == 404

    poison.clear()  # the cause was fixed and deployed
    response = admin.post(f"/api/v1/sync/set-aside/{item['id']}/retry")
    assert response.status_code == 200, response.json
    assert unprocessed_calls(clean_app, admin.organization_id) == 0
    assert {lead["owner_id"] for lead in admin.get("/api/v1/leads").json["items"]} == {sita.user_id, ravi.user_id}
    from server.extensions import db

    with clean_app.app_context():
        assert db.session.execute(select(SyncUpload.set_aside_at).where(SyncUpload.id == item["id"])).scalar() is None
