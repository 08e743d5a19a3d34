"""Times and ids past what Python or the database can hold are refused with
422 and a message naming the field, never a 500 (one bounded field type of
each kind, in schemas/fields.py, used by every schema that loads one)."""
import pytest

EXTREME_TIMES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-06-01T00:00:00Z",
                 "1969-12-31T23:59:59Z"]


@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/audit"])
@pytest.mark.parametrize("since", EXTREME_TIMES)
def test_a_since_beyond_the_representable_range_is_422(make_org, path, since):
    admin = make_org()
    response = admin.get(path, query_string={"since": since})
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid_fields"
    assert "between 1970-01-01 and 9999-01-01" in response.json["error"]["fields"]["since"][0]


@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/audit"])
def test_a_far_but_representable_since_is_answered(make_org, path):
    admin = make_org()
    for since in ("2999-01-01T00:00:00+05:30", "1970-01-01T00:00:00Z"):
        response = admin.get(path, query_string={"since": since})
        assert response.status_code == 200, response.json


@pytest.mark.parametrize("record_id", [2**31, 2**62, 2**63, 10**30, 0, -1])
def test_an_erasure_record_id_outside_the_id_range_is_422(make_org, record_id):
    admin = make_org()
    response = admin.post("/api/v1/erasure", json={"record_type": "lead", "record_id": record_id})
    assert response.status_code == 422, response.json
    assert response.json["error"]["fields"]["record_id"] == ["Must be an id between 1 and 2147483647."]


def test_the_largest_id_is_simply_not_found(make_org):
    admin = make_org()
    response = admin.post("/api/v1/erasure", json={"record_type": "lead", "record_id": 2**31 - 1})
    assert response.status_code == 404


@pytest.mark.parametrize("query", [{"owner_id": 2**31}, {"owner_id": 10**30}])
def test_an_owner_filter_outside_the_id_range_is_422(make_org, query):
    admin = make_org()
    response = admin.get("/api/v1/leads", query_string=query)
    assert response.status_code == 422
    assert "owner_id" in response.json["error"]["fields"]
