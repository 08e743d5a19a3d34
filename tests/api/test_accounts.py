"""Sign-up, login and its throttling, teammates."""
from tests.conftest import PASSWORD


def test_signup_makes_an_admin_who_can_see_themselves(client, make_org):
    admin = make_org(region="in")
    me = admin.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json["role"] == "admin"
    assert me.json["organization_id"] == admin.organization_id


def test_signup_rejects_a_taken_email_with_409(client, make_org):
    admin = make_org()
    response = client.post("/api/v1/signup", json={"organization": "Other", "region": "GB", "name": "X",
                                                   "email": admin.email.upper(), "password": PASSWORD})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "email_taken"


def test_signup_rejects_unknown_region_and_short_password(client):
    response = client.post("/api/v1/signup", json={"organization": "A", "region": "XX", "name": "X",
                                                   "email": "a@example.test", "password": "short"})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"region", "password"}


def test_login_returns_a_token_that_works(client, make_org):
    admin = make_org()
    response = client.post("/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json["user"]["id"] == admin.user_id
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json['token']}"})
    assert me.json["email"] == admin.email


def test_wrong_password_is_401_and_repeated_failures_are_throttled(client, make_org, clock):
    admin = make_org()
    for _ in range(5):
        response = client.post("/api/v1/auth/login", json={"email": admin.email, "password": "wrong password!"})
        assert response.status_code == 401
    response = client.post("/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD})
    assert response.status_code == 429
    assert response.json["error"]["code"] == "too_many_attempts"
    assert 1 <= int(response.headers["Retry-After"]) <= 900
    clock.advance(seconds=901)
    response = client.post("/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD})
    assert response.status_code == 200


def test_unknown_account_logins_are_throttled_per_address(client, clean_app):
    clean_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    for i in range(3):
        response = client.post("/api/v1/auth/login", json={"email": f"nobody{i}@x.test", "password": "whatever1"})
        assert response.status_code == 401
    response = client.post("/api/v1/auth/login", json={"email": "nobody9@x.test", "password": "whatever1"})
    assert response.status_code == 429


def test_admin_changes_a_teammates_role_and_a_rep_cannot(client, make_org, make_user):
    admin = make_org()
    rep = make_user(admin, "rep")
    assert rep.patch(f"/api/v1/users/{rep.user_id}", json={"role": "admin"}).status_code == 403
    response = admin.patch(f"/api/v1/users/{rep.user_id}", json={"role": "manager"})
    assert response.status_code == 200 and response.json["role"] == "manager"
    assert rep.get("/api/v1/users").status_code == 200  # now a manager


def test_disabling_a_user_revokes_their_tokens(client, make_org, make_user):
    admin = make_org()
    rep = make_user(admin)
    assert admin.patch(f"/api/v1/users/{rep.user_id}", json={"disabled": True}).status_code == 200
    assert rep.get("/api/v1/me").status_code == 401


def test_api_keys_are_shown_once_and_revocable(client, make_org):
    admin = make_org()
    created = admin.post("/api/v1/api-keys", json={"name": "PBX"})
    assert created.status_code == 201 and created.json["key"].startswith("csk_")
    listed = admin.get("/api/v1/api-keys").json["items"]
    assert [k["name"] for k in listed] == ["PBX"] and "key" not in listed[0]
    assert admin.delete(f"/api/v1/api-keys/{created.json['id']}").status_code == 204
    assert admin.get("/api/v1/api-keys").json["items"] == []


def test_making_and_revoking_an_api_key_are_in_the_access_audit(client, make_org):
    admin = make_org()
    created = admin.post("/api/v1/api-keys", json={"name": "PBX"}).json
    assert admin.delete(f"/api/v1/api-keys/{created['id']}").status_code == 204
    events = [(e["action"], e["object_type"], e["object_id"]) for e in admin.get("/api/v1/audit").json["items"]]
    assert ("api_key.create", "api_key", created["id"]) in events
    assert ("api_key.revoke", "api_key", created["id"]) in events
