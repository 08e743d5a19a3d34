"""Every list endpoint: `{items, next_page}`, `limit` (1-200, default 50),
`page`, and a 422 for a query parameter it does not know. The endpoints are
found in the declared operations, so a list added later is covered."""
import importlib
import pkgutil

import pytest

from tests.phone_data import call_row

# Lists whose modules belong to other work and do not take `limit` yet.
# strict: once one does, its entry must go.
PENDING = {
    "/api/v1/users": "accounts: GET /users does not page yet",
    "/api/v1/api-keys": "accounts: GET /api-keys does not page yet",
    "/api/v1/push-sink": "caller ID: the push sink does not page yet",
}


def list_routes() -> list[str]:
    """GET operations without a path id whose answer is `{items, next_page}`."""
    import server.api
    from server.api.routing import OPERATIONS

    for module in pkgutil.iter_modules(server.api.__path__):  # importing a module declares its operations
        importlib.import_module(f"server.api.{module.name}")
    return sorted({op.rule for op in OPERATIONS
                   if op.method == "GET" and "<" not in op.rule and op.response is not None
                   and {"items", "next_page"} <= set(op.response._declared_fields)})


ROUTES = list_routes()


def test_the_lists_found_include_the_ones_of_issue_17():
    assert {"/api/v1/leads", "/api/v1/contacts", "/api/v1/tasks", "/api/v1/audit", "/api/v1/devices",
            "/api/v1/calls"} <= set(ROUTES)


@pytest.fixture
def seeded(make_org, make_device, clean_app):
    """An admin with three of everything a list shows: leads, contacts, phones,
    calls, call-back tasks (missed calls from the leads) and access events."""
    admin = make_org(region="IN")
    for n in range(3):
        make_device(admin)  # the last one stays the admin's acting device
    numbers = [f"+91 98765 4321{n}" for n in range(3)]
    for n, number in enumerate(numbers):
        assert admin.post("/api/v1/leads", json={"name": f"Lead {n}", "phone": number}).status_code == 201
        assert admin.post("/api/v1/contacts", json={"name": f"Contact {n}",
                                                    "phones": [f"+44 20 7946 09{n}0"]}).status_code == 201
    rows = [call_row(n + 1, number, type_=3, duration=0) for n, number in enumerate(numbers)]
    synced = admin.post("/api/v1/sync/calls", device=True, json={"batch_id": "seed", "calls": rows})
    assert synced.status_code == 200 and synced.json["accepted"] == 3, synced.json
    for _ in range(3):
        admin.get("/api/v1/leads")
    return admin


def _pending(route):
    return pytest.mark.xfail(strict=True, reason=PENDING[route]) if route in PENDING else ()


@pytest.mark.parametrize("route", [pytest.param(r, marks=_pending(r)) for r in ROUTES])
def test_a_list_refuses_an_unknown_query_parameter(route, make_org, make_device):
    admin = make_device(make_org())
    response = admin.get(route, query_string={"bogus": "1"})
    assert response.status_code == 422, (route, response.status_code)
    assert "bogus" in response.json["error"]["fields"]


@pytest.mark.parametrize("route", [pytest.param(r, marks=_pending(r)) for r in ROUTES])
@pytest.mark.parametrize("limit", ["0", "201", "many"])
def test_a_list_refuses_a_limit_outside_1_to_200(route, limit, make_org, make_device):
    admin = make_device(make_org())
    response = admin.get(route, query_string={"limit": limit})
    assert response.status_code == 422 and "limit" in response.json["error"]["fields"], (route, response.json)


@pytest.mark.parametrize("route", [pytest.param(r, marks=_pending(r)) for r in ROUTES])
def test_a_list_answers_limit_items_a_page_and_the_next_page(route, seeded):
    first = seeded.get(route, query_string={"limit": "2"})
    assert first.status_code == 200, (route, first.json)
    assert set(first.json) == {"items", "next_page"}
    assert len(first.json["items"]) == 2 and first.json["next_page"] == 2, (route, first.json)
    second = seeded.get(route, query_string={"limit": "2", "page": "2"}).json
    assert second["items"] and second["items"][0] not in first.json["items"], route
    everything = seeded.get(route, query_string={"limit": "200"}).json
    assert everything["next_page"] is None and len(everything["items"]) >= 3, route
    assert everything["items"][:2] == first.json["items"], route


def test_without_a_limit_a_list_answers_50_a_page(make_org):
    admin = make_org()
    for n in range(51):
        created = admin.post("/api/v1/leads", json={"name": f"Lead {n}", "phone": f"+91 98765 4{n:04d}"})
        assert created.status_code == 201
    first = admin.get("/api/v1/leads").json
    assert len(first["items"]) == 50 and first["next_page"] == 2
    assert len(admin.get("/api/v1/leads?limit=3").json["items"]) == 3


@pytest.mark.parametrize("route, parameter", [("/api/v1/leads", "q"), ("/api/v1/leads", "sort"),
                                              ("/api/v1/contacts", "sort")])
def test_search_and_sort_are_refused_where_a_list_cannot_do_them_yet(route, parameter, make_org):
    response = make_org().get(route, query_string={parameter: "asha"})
    assert response.status_code == 422
    assert "Unknown query parameter" in response.json["error"]["fields"][parameter][0]


def test_contacts_still_take_a_name_prefix(make_org):
    admin = make_org()
    for n, name in enumerate(("Asha Rao", "Ravi Kumar")):
        assert admin.post("/api/v1/contacts", json={"name": name, "phones": [f"+91 98765 4321{n}"]}).status_code == 201
    names = [c["name"] for c in admin.get("/api/v1/contacts?q=ash").json["items"]]
    assert names == ["Asha Rao"]
