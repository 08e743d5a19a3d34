"""The one error shape, for every kind of bad input."""


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/signup", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": {"code": "malformed_json", "message": "The body is not valid JSON."}}


def test_deeply_nested_json_is_a_clean_400_or_422(client):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/signup", data=body, content_type="application/json")
    assert response.status_code in (400, 422)
    assert "error" in response.json


def test_unknown_fields_are_rejected_with_per_field_messages(client):
    response = client.post("/api/v1/signup", json={"organization": "A", "region": "IN", "name": "B",
                                                   "email": "b@example.test", "password": "long enough pw",
                                                   "role": "admin", "organization_id": 7})
    assert response.status_code == 422
    assert response.json["error"]["fields"] == {"role": ["Unknown field."], "organization_id": ["Unknown field."]}


def test_wrong_types_and_nul_bytes_are_422(client):
    response = client.post("/api/v1/signup", json={"organization": "A\x00", "region": 5, "name": [],
                                                   "email": "nope", "password": None})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"organization", "region", "name", "email", "password"}


def test_unknown_path_and_method_use_the_error_shape(client):
    assert client.get("/api/v1/nowhere").json["error"]["code"] == "not_found"
    response = client.delete("/api/v1/signup")
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"


def test_oversized_body_is_413(client, clean_app):
    response = client.post("/api/v1/signup", data=b"{" + b" " * (clean_app.config["MAX_CONTENT_LENGTH"] + 10) + b"}",
                           content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
