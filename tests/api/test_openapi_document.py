"""The published OpenAPI document, its docs page and the health check."""


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["checks"]["database"] == "ok"


def test_openapi_document_and_docs_page(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/devices/{device_id}/consent" in spec["paths"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"/api/v1/signup" in page.data


def _operations(spec: dict) -> dict:
    return {op["operationId"]: (method.upper(), path, op)
            for path, item in spec["paths"].items() for method, op in item.items()}


def test_every_operation_on_an_object_is_linked_from_one_that_gives_its_id(client):
    """The links (what a client may call next with the ids it was given) reach
    every operation that takes an id, and fill exactly its path parameters."""
    spec = client.get("/api/v1/openapi.json").json
    operations = _operations(spec)
    reached = set()
    for method, path, op in operations.values():
        for code, response in op["responses"].items():
            for name, link in response.get("links", {}).items():
                assert code.startswith("2"), (method, path, code, name)
                assert link["operationId"] in operations, link
                _, target_path, target = operations[link["operationId"]]
                wanted = {p["name"] for p in target["parameters"] if p["in"] == "path"}
                assert set(link["parameters"]) == wanted, (method, path, name, link)
                for value in link["parameters"].values():
                    assert not value.startswith("$request.path.") or "{" + value.rsplit(".", 1)[1] + "}" in path
                reached.add(link["operationId"])
    takes_an_id = {operation_id for operation_id, (_, path, _) in operations.items() if "{" in path}
    assert takes_an_id - reached == set()


def test_links_chain_a_created_lead_to_its_review_and_a_deleted_contact_to_its_absence(client):
    operations = _operations(client.get("/api/v1/openapi.json").json)
    created = operations["leads_create_lead"][2]["responses"]["201"]["links"]
    assert created["leads_approve_lead"]["parameters"] == {"lead_id": "$response.body#/id"}
    assert created["leads_add_note"]["parameters"] == {"record_id": "$response.body#/id", "record_type": "lead"}
    deleted = operations["contacts_delete_contact"][2]["responses"]["204"]["links"]
    assert deleted["contacts_get_contact"]["parameters"] == {"contact_id": "$request.path.contact_id"}


def test_uploaded_rows_are_described_in_the_document(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert schemas["CallBatch"]["properties"]["calls"]["items"] == {"$ref": "#/components/schemas/CallRow"}
    assert {"_id", "number", "date", "type", "name"} <= set(schemas["CallRow"]["properties"])
    assert schemas["ContactBatch"]["properties"]["contacts"]["items"] == {"$ref": "#/components/schemas/ContactRow"}


def test_the_import_documents_every_body_it_takes(client):
    body = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/contacts/import"]["post"]["requestBody"]
    assert {"text/csv", "multipart/form-data", "text/vcard",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} <= set(body["content"])
    assert body["content"]["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"


def test_the_document_describes_every_webhook_event_it_sends(client):
    document = client.get("/api/v1/openapi.json").json
    sent = document["x-webhooks"]
    assert {"lead.created", "lead.approved", "call.logged", "contact.deleted", "erasure.completed"} <= set(sent)
    body = sent["lead.created"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body  # a schema (or a reference to one) for {type, timestamp, data}
