"""Devices, device tokens and consent."""


def test_device_registration_returns_a_device_token_that_acts_for_the_phone(client, make_org, make_device):
    admin = make_device(make_org(), consent=False)
    assert admin.device_token.startswith("csd_")
    response = admin.get(f"/api/v1/devices/{admin.device_id}", device=True)
    assert response.status_code == 200 and response.json["has_fcm_token"] is True


def test_device_token_cannot_administer(client, make_org, make_device):
    admin = make_device(make_org(), consent=False)
    response = admin.post("/api/v1/invites", device=True, json={"email": "x@example.test", "role": "rep"})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "user_token_required"


def test_fcm_token_rotation(client, make_org, make_device):
    admin = make_device(make_org(), consent=False)
    response = admin.patch(f"/api/v1/devices/{admin.device_id}", device=True, json={"fcm_token": "new-token"})
    assert response.status_code == 200


def test_revoked_device_token_gets_401(client, make_org, make_device):
    admin = make_device(make_org(), consent=False)
    assert admin.delete(f"/api/v1/devices/{admin.device_id}").status_code == 204
    response = admin.get(f"/api/v1/devices/{admin.device_id}", device=True)
    assert response.status_code == 401


def test_consent_is_recorded_per_scope_with_version_and_time(client, make_org, make_device):
    admin = make_device(make_org(), consent=False)
    version = client.get("/api/v1/consent/policy").json["version"]
    response = admin.put(f"/api/v1/devices/{admin.device_id}/consent", device=True,
                         json={"contacts": False, "call_log": True, "policy_version": version})
    assert response.status_code == 200
    assert response.json["call_log"]["granted"] is True
    assert response.json["call_log"]["policy_version"] == version
    assert response.json["call_log"]["updated_at"].endswith("+00:00")
    assert response.json["contacts"]["granted"] is False


def test_consent_to_an_outdated_policy_is_refused(client, make_org, make_device):
    admin = make_device(make_org(), consent=False)
    response = admin.put(f"/api/v1/devices/{admin.device_id}/consent", device=True,
                         json={"contacts": True, "call_log": True, "policy_version": "1999-01-01"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "policy_version_mismatch"


def test_consent_needs_the_phones_own_token(client, make_org, make_device):
    admin = make_device(make_org(), consent=False)
    response = admin.put(f"/api/v1/devices/{admin.device_id}/consent",
                         json={"contacts": True, "call_log": True, "policy_version": "2026-11-01"})
    assert response.status_code == 403


def test_policy_text_is_public_and_the_organisation_may_override_it(client, make_org):
    response = client.get("/api/v1/consent/policy")
    assert response.status_code == 200 and "call log" in response.json["text"]


def test_another_users_device_is_not_found(client, make_org, make_user, make_device):
    admin = make_org()
    rep = make_device(make_user(admin), consent=False)
    other_rep = make_user(admin)
    assert other_rep.get(f"/api/v1/devices/{rep.device_id}").status_code == 404
    assert other_rep.delete(f"/api/v1/devices/{rep.device_id}").status_code == 404
    assert admin.get(f"/api/v1/devices/{rep.device_id}").status_code == 200
