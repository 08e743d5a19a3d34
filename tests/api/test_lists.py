"""Every list endpoint: `{items, next_page}`, `limit` (1-200, default 50),
`page`, and a 422 for a query parameter it does not know. The endpoints are
found in the declared operations, so a list added later is covered."""
import importlib
import pkgutil

import pytest

from tests.phone_data import call_row

# Lists whose modules belong to other work and do not take `limit` yet.
# strict: once one does, its entry must go.
PENDING: dict[str, str] = {}


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
            "/api/v1/calls", "/api/v1/invites", "/api/v1/users", "/api/v1/api-keys",
            "/api/v1/push-sink"} <= set(ROUTES)


@pytest.fixture
def seeded(make_org, make_user, make_device, clean_app):
    """An admin with three of everything a list shows: leads, contacts, phones,
    calls, call-back tasks (missed calls from the leads), access events,
    users, pending invites, API keys, recorded pushes, suppressed numbers, webhook endpoints, private numbers
    and contact imports."""
    admin = make_org(region="IN")
    for n in range(3):
        make_device(admin)  # the last one stays the admin's acting device
    for n in range(2):
        make_user(admin, name=f"Mate {n}")
    for n in range(3):
        assert admin.post("/api/v1/invites", json={"email": f"invited{n}@example.test", "role": "rep"}).status_code == 201
        assert admin.post("/api/v1/api-keys", json={"name": f"PBX {n}"}).status_code == 201
    assert admin.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43299"}).status_code == 202
    numbers = [f"+91 98765 4321{n}" for n in range(3)]
    for n, number in enumerate(numbers):
        assert admin.post("/api/v1/leads", json={"name": f"Lead {n}", "phone": number}).status_code == 201
        assert admin.post("/api/v1/contacts", json={"name": f"Contact {n}",
                                                    "phones": [f"+44 20 7946 09{n}0"]}).status_code == 201
    rows = [call_row(n + 1, number, type_=3, duration=0) for n, number in enumerate(numbers)]
    synced = admin.post("/api/v1/sync/calls", device=True, json={"batch_id": "seed", "calls": rows})
    assert synced.status_code == 200 and synced.json["accepted"] == 3, synced.json
    clean_app.config["WEBHOOK_ALLOW_LOOPBACK"] = True  # clean_app restores the configuration
    for n in range(3):  # nothing listens there: the list, not a delivery, is what is checked
        hook = admin.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:9/hook{n}", "events": ["lead.approved"]})
        assert hook.status_code == 201, hook.json
    for n in range(3):  # rejected as spam: three suppressed numbers
        spam = admin.post("/api/v1/leads", json={"name": f"Spam {n}", "phone": f"+91 90000 1000{n}"}).json["id"]
        assert admin.post(f"/api/v1/leads/{spam}/reject", json={"reason": "spam"}).status_code == 200
    for n in range(3):  # the admin's own private numbers
        assert admin.post("/api/v1/me/private-numbers", json={"number": f"+91 90000 2000{n}"}).status_code == 201
    for _ in range(3):
        admin.get("/api/v1/leads")
    _three_finished_imports(clean_app, admin.organization_id)
    return admin


def _three_finished_imports(app, organization_id: int) -> None:
    """Three contact imports started on the page, one after the other, each finished."""
    import io
    from datetime import datetime, timezone

    from mobile_sync import contact_imports
    from mobile_sync.store import contact_import_runs
    from server.extensions import db

    now = datetime.now(timezone.utc)
    with app.app_context():
        for n in range(3):
            run_id = contact_imports.start_import(
                db.session, org_id=organization_id, user_id=None, owner_id=None, region="IN",
                stream=io.BytesIO(b"name,company,email,source,phones\n"), filename=f"file{n}.csv", mapping=None,
                now=now)
            contact_import_runs.finish_run(db.session, organization_id, run_id, "done", now)
            db.session.commit()


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
    assert {"items", "next_page"} <= set(first.json)  # leads add `counts`
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


@pytest.mark.parametrize("route", ["/api/v1/leads", "/api/v1/contacts", "/api/v1/calls"])
def test_the_record_and_call_lists_search_and_refuse_an_unknown_sort(route, make_org):
    admin = make_org()
    assert admin.get(route, query_string={"q": "asha"}).status_code == 200  # tests/api/test_search.py: what it finds
    if route != "/api/v1/calls":
        assert admin.get(route, query_string={"sort": "name"}).status_code == 200
        refused = admin.get(route, query_string={"sort": "phone"})
        assert refused.status_code == 422 and "sort" in refused.json["error"]["fields"]


def test_contacts_still_take_a_name_prefix(make_org):
    admin = make_org()
    for n, name in enumerate(("Asha Rao", "Ravi Kumar")):
        assert admin.post("/api/v1/contacts", json={"name": name, "phones": [f"+91 98765 4321{n}"]}).status_code == 201
    names = [c["name"] for c in admin.get("/api/v1/contacts?q=ash").json["items"]]
    assert names == ["Asha Rao"]


@pytest.mark.parametrize("route", ["/api/v1/leads", "/api/v1/contacts", "/api/v1/calls"])
def test_a_record_list_answers_what_its_schema_dumps(route, seeded, clean_app):
    """The record and call lists dump their pages without marshmallow
    (schemas.list_dump): the answer is what the schema's own dump of the same
    page is, field for field (date-times as ISO text, a call's type named,
    a contact's numbers, the counts of leads)."""
    from zoneinfo import ZoneInfo

    from mobile_sync import call_log, contacts, leads
    from mobile_sync.store.models import User
    from schemas.calls import CallLogSchema
    from schemas.contacts import ContactPageSchema
    from schemas.leads import LeadListSchema
    from schemas.list_dump import dumper
    from server.extensions import db

    answer = seeded.get(route, query_string={"limit": "200"})
    assert answer.status_code == 200, answer.json
    with clean_app.app_context():
        session = db.session
        org_id = seeded.organization_id
        if route.endswith("/leads"):
            items, next_page, counts = leads.list_leads(session, user=session.get(User, seeded.user_id), limit=200)
            schema, page = LeadListSchema, {"items": items, "next_page": next_page, "counts": counts}
        elif route.endswith("/contacts"):
            schema, page = ContactPageSchema, contacts.list_contacts(session, org_id, limit=200)
        else:
            items, next_page = call_log.list_calls(session, organization_id=org_id, tz=ZoneInfo("UTC"), limit=200)
            schema, page = CallLogSchema, {"items": items, "next_page": next_page}
        expected = schema().dump(page)
        assert dumper(schema)(page) == expected
    assert len(expected["items"]) >= 3 and answer.json == expected
