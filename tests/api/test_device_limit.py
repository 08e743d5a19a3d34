"""At most 10 phones per user: the 11th registration is 409
`device_limit_reached` until one is revoked. Each ring writes one push row
per phone, so a user with 2,000 phones made every ring write 2,001 rows."""
import threading

import pytest

from mobile_sync.devices import MAX_DEVICES_PER_USER


def register(actor, client=None):
    body = {"platform": "android", "model": "Pixel 8", "os_version": "14", "app_version": "1.0.0",
            "fcm_token": "fcm-token"}
    if client is None:
        return actor.post("/api/v1/devices", json=body)
    return client.post("/api/v1/devices", headers=actor.headers(), json=body)


def active_devices(app, user_id: int) -> int:
    from sqlalchemy import func, select

    from server.extensions import db
    from mobile_sync.store.models import Device

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Device).where(
            Device.user_id == user_id, Device.revoked_at.is_(None))
            .execution_options(all_organizations=True)).scalar_one()


def test_the_eleventh_phone_is_refused_until_one_is_revoked(make_org, clean_app):
    admin = make_org()
    ids = []
    for _ in range(MAX_DEVICES_PER_USER):
        response = register(admin)
        assert response.status_code == 201
        ids.append(response.json["device_id"])
    refused = register(admin)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "device_limit_reached"
    assert "Revoke one" in refused.json["error"]["message"]
    assert active_devices(clean_app, admin.user_id) == 10

    assert admin.delete(f"/api/v1/devices/{ids[0]}").status_code == 204
    again = register(admin)
    assert again.status_code == 201
    token = again.json["device_token"]
    assert admin.get(f"/api/v1/devices/{again.json['device_id']}",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert register(admin).status_code == 409


def test_the_limit_is_per_user(make_org, make_user):
    admin = make_org()
    rep = make_user(admin)
    for _ in range(MAX_DEVICES_PER_USER):
        assert register(admin).status_code == 201
    assert register(admin).status_code == 409
    assert register(rep).status_code == 201


@pytest.mark.parametrize("trial", range(20))
def test_registrations_at_once_never_make_eleven(trial, make_org, clean_app):
    """Three phones register at once for a user who has nine: one gets in."""
    admin = make_org()
    for _ in range(MAX_DEVICES_PER_USER - 1):
        assert register(admin).status_code == 201
    barrier = threading.Barrier(3)
    statuses = []

    def send():
        client = clean_app.test_client()
        barrier.wait()
        statuses.append(register(admin, client).status_code)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409]
    assert active_devices(clean_app, admin.user_id) == MAX_DEVICES_PER_USER
