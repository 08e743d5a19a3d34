"""Without Redis the daily request limit counts in the database: one row per
organisation and day. It is counted in a transaction of its own, so a
request in flight never holds up its organisation's other requests."""
import threading

import pytest


def counted(app, organization_id: int) -> int:
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import RequestCounter

    with app.app_context():
        return db.session.execute(select(RequestCounter.count).where(
            RequestCounter.organization_id == organization_id)
            .execution_options(all_organizations=True)).scalar_one_or_none() or 0


def test_a_request_in_flight_does_not_hold_up_the_organisations_other_requests(
        request, make_org, make_user, make_device, clean_app, monkeypatch):
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time, whatever the counter does")
    import mobile_sync.devices

    admin = make_device(make_org(), consent=False)
    rep = make_user(admin)
    before = counted(clean_app, admin.organization_id)
    inside, release = threading.Event(), threading.Event()
    real_owned_device = mobile_sync.devices.owned_device

    def slow_owned_device(*args, **kwargs):  # the admin's request, counted, then busy in its transaction
        inside.set()
        release.wait(30)
        return real_owned_device(*args, **kwargs)

    monkeypatch.setattr(mobile_sync.devices, "owned_device", slow_owned_device)
    answers = {}

    def get(name, actor, path):
        answers[name] = clean_app.test_client().get(path, headers=actor.headers()).status_code

    slow = threading.Thread(target=get, args=("admin", admin, f"/api/v1/devices/{admin.device_id}"))
    slow.start()
    try:
        assert inside.wait(10)
        quick = threading.Thread(target=get, args=("rep", rep, "/api/v1/me"))
        quick.start()
        quick.join(timeout=5)
        assert not quick.is_alive(), "the rep's request waited for the admin's request to commit"
        assert answers["rep"] == 200
    finally:
        release.set()
        slow.join()
    assert answers["admin"] == 200
    assert counted(clean_app, admin.organization_id) == before + 2
