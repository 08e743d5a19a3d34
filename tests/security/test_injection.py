"""Injection strings in every text a user or a phone can set on a lead, a
contact, a note or a user, and in the caller's cached name: stored verbatim
through the API (so no SQL was run from them) and shown escaped on the pages."""
from __future__ import annotations

import pytest

from tests.phone_data import call_row
from tests.web.conftest import sign_in, upload_calls

PAYLOADS = [
    "<script>alert('x')</script>",
    "\"><img src=x onerror=alert(1)>",
    "'; DROP TABLE leads; --",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "{{ 7*7 }} ${7*7} <b>bold</b>",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_strings_are_stored_verbatim_and_shown_escaped(client, page_team, payload):
    admin, manager, ravi, _ = page_team
    upload_calls(ravi, [call_row(1, "+91 91234 56789", name=payload[:200])])
    lead = admin.get("/api/v1/leads").json["items"][0]
    assert lead["name"] == payload.strip()[:200]
    changed = ravi.patch(f"/api/v1/leads/{lead['id']}", json={"company": payload, "source": payload[:100]})
    assert changed.status_code == 200 and changed.json["company"] == payload.strip()
    assert ravi.post(f"/api/v1/records/lead/{lead['id']}/notes", json={"text": payload}).status_code == 201
    contact = admin.post("/api/v1/contacts", json={"name": payload, "company": payload,
                                                   "phones": ["+91 90000 11111"]})
    assert contact.status_code == 201 and contact.json["name"] == payload.strip()
    assert admin.patch(f"/api/v1/users/{ravi.user_id}", json={"name": payload[:200]}).status_code == 200
    # Every table still there, every row intact.
    assert len(admin.get("/api/v1/leads").json["items"]) == 1
    assert admin.get("/api/v1/users").status_code == 200
    assert admin.get("/api/v1/caller-id", query_string={"number": payload}).status_code == 200

    assert sign_in(client, manager.email).status_code == 302
    for path in ("/review?status=any", f"/leads/{lead['id']}"):
        html = client.get(path).data.decode()
        for dangerous in ("<script>alert", "<img src=x", "<b>bold</b>"):
            assert dangerous not in html, (path, dangerous)
        if "<script>" in payload:
            assert "&lt;script&gt;" in html
        if "{{ 7*7 }}" in payload:
            assert "{{ 7*7 }}" in html  # shown as typed, never evaluated
