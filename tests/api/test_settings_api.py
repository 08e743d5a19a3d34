"""GET and PATCH /api/v1/settings: what is saved is answered back as sent,
dates included; dictionaries merge, and a key sent as null goes."""
from __future__ import annotations


def test_tracking_numbers_with_dates_are_saved_and_read_back(make_org):
    admin = make_org(region="IN")
    body = {"tracking_numbers": [{"number": "+91 80 4000 1234", "source": "google-ads",
                                  "valid_from": "2026-11-01", "valid_to": "2026-12-31"}]}
    saved = admin.patch("/api/v1/settings", json=body)
    assert saved.status_code == 200, saved.json
    for answer in (saved.json, admin.get("/api/v1/settings").json):
        [tracking] = answer["tracking_numbers"]
        assert (tracking["number"], tracking["valid_from"], tracking["valid_to"]) == (
            "+918040001234", "2026-11-01", "2026-12-31")


def test_a_campaign_phone_sent_as_null_loses_its_source(make_org, make_device):
    admin = make_org(region="IN")
    phones = [make_device(admin).device_id for _ in range(2)]
    first = admin.patch("/api/v1/settings", json={"campaign_devices": {str(phones[0]): "expo",
                                                                       str(phones[1]): "web"}})
    assert first.status_code == 200 and first.json["campaign_devices"] == {str(phones[0]): "expo",
                                                                          str(phones[1]): "web"}
    removed = admin.patch("/api/v1/settings", json={"campaign_devices": {str(phones[0]): None}})
    assert removed.status_code == 200 and removed.json["campaign_devices"] == {str(phones[1]): "web"}
    assert admin.get("/api/v1/settings").json["campaign_devices"] == {str(phones[1]): "web"}
    assert admin.patch("/api/v1/settings", json={"campaign_devices": {str(phones[1]): ""}}).status_code == 422
