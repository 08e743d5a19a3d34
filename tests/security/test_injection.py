"""Injection strings: stored verbatim, shown escaped, never evaluated, never
turned into an e-mail header."""
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




def test_line_breaks_in_names_cannot_add_headers_to_the_invite_email(client, clean_app, make_org):
    """The inviter's and the organisation's names go into the invitation's
    subject line; typed line breaks must not end the header and start another."""
    from tests.api.test_invites import outbox_messages

    admin = make_org(name="Org\r\nBcc: org@evil.test")
    assert admin.patch("/api/v1/me", json={"name": "Mallory\r\nBcc: thief@evil.test\r\n\r\nhi"}).status_code == 200
    assert admin.get("/api/v1/me").json["name"] == "Mallory\r\nBcc: thief@evil.test\r\n\r\nhi"  # kept as typed
    response = admin.post("/api/v1/invites", json={"email": "new.rep@example.test", "role": "rep"})
    assert response.status_code == 201, response.json
    _, message = outbox_messages(clean_app)[-1]
    assert message["Bcc"] is None and message["To"] == "new.rep@example.test"
    assert message["Subject"] == "Mallory Bcc: thief@evil.test hi invited you to Org Bcc: org@evil.test on CallSync"
