"""Phones in FCM's installation-ID mode: the app registers its Firebase
installation ID (`fcm_fid`) instead of, or beside, a registration token, and
pushes address it as `fid` through the real firebase-admin client."""
import pytest

from tests.jobs.test_push_delivery import push_records

FID = "cEf3bQ1xS9u7yT2kLmN0pQ"  # 22 characters, as Firebase makes them


def push_addresses(app, device_id):
    from server.extensions import db
    from mobile_sync.store.models import Device

    with app.app_context():
        device = db.session.get(Device, device_id)
        return device.fcm_fid, device.fcm_token


def ring(rep):
    response = rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    assert response.status_code == 202, response.json
    return response.json


@pytest.fixture
def fid_phone(make_org, make_user, make_device):
    return make_device(make_user(make_org(region="IN")), fcm_token=None, fcm_fid=FID)


def test_a_phone_registered_by_installation_id_gets_its_pushes_by_fid(fid_phone, clean_app, fcm):
    assert fid_phone.get(f"/api/v1/devices/{fid_phone.device_id}", device=True).json["has_fcm_fid"] is True
    assert ring(fid_phone)["devices"] == 1
    message = fcm.requests[0]["body"]["message"]
    assert message["fid"] == FID and "token" not in message
    assert push_records(clean_app)[0].status == "sent"


def test_the_installation_id_is_preferred_to_a_token(make_org, make_user, make_device, clean_app, fcm):
    phone = make_device(make_user(make_org(region="IN")), fcm_token="old-registration-token")
    assert phone.patch(f"/api/v1/devices/{phone.device_id}", device=True, json={"fcm_fid": FID}).status_code == 200
    ring(phone)
    assert fcm.requests[0]["body"]["message"]["fid"] == FID


def test_an_unregistered_installation_id_is_dropped_and_the_token_is_tried_next(
        make_org, make_user, make_device, clean_app, fcm):
    phone = make_device(make_user(make_org(region="IN")), fcm_token="still-a-token", fcm_fid=FID)
    fcm.script("UNREGISTERED")
    ring(phone)
    assert push_addresses(clean_app, phone.device_id) == (None, "still-a-token")
    assert push_records(clean_app)[0].status == "token_removed"
    ring(phone)
    assert fcm.requests[1]["body"]["message"]["token"] == "still-a-token"


def test_a_phone_with_neither_gets_no_push_and_a_dead_fid_is_never_used_again(fid_phone, clean_app, fcm):
    fcm.script("UNREGISTERED")
    ring(fid_phone)
    assert push_addresses(clean_app, fid_phone.device_id) == (None, None)
    assert ring(fid_phone)["devices"] == 0
    assert len(fcm.requests) == 1  # 0 further sends


def test_a_rotated_installation_id_is_used_and_revoking_forgets_it(fid_phone, clean_app, fcm):
    path = f"/api/v1/devices/{fid_phone.device_id}"
    assert fid_phone.patch(path, device=True, json={"fcm_fid": "dGhpcyBpcyBhIG5ldyBmaWQ"}).status_code == 200
    ring(fid_phone)
    assert fcm.requests[0]["body"]["message"]["fid"] == "dGhpcyBpcyBhIG5ldyBmaWQ"
    assert fid_phone.delete(path, device=True).status_code == 204
    assert push_addresses(clean_app, fid_phone.device_id) == (None, None)


@pytest.mark.parametrize("value", ["", "x" * 256])
def test_an_installation_id_out_of_bounds_is_refused(make_org, make_user, make_device, value):
    rep = make_user(make_org(region="IN"))
    response = rep.post("/api/v1/devices", json={"platform": "android", "fcm_fid": value})
    assert response.status_code == 422 and "fcm_fid" in response.json["error"]["fields"]
