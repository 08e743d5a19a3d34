"""Erasure from a record's page, through Flask's test client: the preview
counts exactly what the erasure then deletes (records, numbers, calls,
notes, tasks), a lead takes the leads merged into it, the dry run by phone
agrees, and only admins erase (another organisation's record is a 404)."""
from __future__ import annotations

import re

from tests.api.exports import upload_calls
from tests.phone_data import call_row
from tests.web.test_account_pages import page_text
from tests.web.test_console_pages import signed_in
from tests.web.test_contact_pages import add_contact, contact_json, post

COUNTED = ("contacts", "leads", "calls", "notes", "tasks", "record_phones")


def counts_on(page: str) -> dict[str, int]:
    return {key: int(value) for key, value in re.findall(r'data-count="(\w+)">(\d+)<', page) if key in COUNTED}


def test_the_erasure_preview_counts_exactly_what_the_erasure_then_deletes(clean_app, page_team):
    from mobile_sync.store.models import Call, Note, RecordPhone, Task
    from tests.api.test_erasure import count_rows

    admin, manager, ravi, sita = page_team
    asha = add_contact(admin, "Asha Rao", "+91 98765 43210", "+91 98450 77777")
    kept = add_contact(admin, "Kept Customer", "+91 90000 12345")
    upload_calls(ravi, call_row(1, "+91 98765 43210"), call_row(2, "98450 77777", type_=3, duration=0),
                 call_row(3, "+91 90000 12345"), call_row(4, "+91 91234 56789"), batch="r")
    upload_calls(sita, call_row(5, "+91 98450 77777", type_=2), batch="s")
    browser = signed_in(clean_app, admin)
    assert post(browser, f"/contacts/{asha}/notes", text="Prefers mornings").status_code == 302
    calls_before, tasks_before = count_rows(clean_app, Call), count_rows(clean_app, Task)

    page = browser.get(f"/records/contact/{asha}/erase")
    assert page.status_code == 200
    text = page_text(page)
    assert "Erase Asha Rao?" in text and "+91 98765 43210" in text and "+91 98450 77777" in text
    preview = counts_on(page.get_data(as_text=True))
    assert preview["contacts"] == 1 and preview["calls"] == 3 and preview["notes"] == 1
    assert preview["tasks"] >= 1 and preview["record_phones"] == 2
    dry = admin.post("/api/v1/erasure?dry_run=true", json={"record_type": "contact", "record_id": asha})
    assert dry.status_code == 200 and dry.json["dry_run"] is True
    assert {k: dry.json["deleted"][k] for k in COUNTED} == preview and dry.json["numbers_erased"] == 2
    assert count_rows(clean_app, Call) == calls_before  # the previews deleted nothing
    assert contact_json(admin, asha).status_code == 200

    done = post(browser, f"/records/contact/{asha}/erase")
    assert done.status_code == 200 and "Erased" in page_text(done)
    assert counts_on(done.get_data(as_text=True)) == preview
    assert contact_json(admin, asha).status_code == 404 and contact_json(admin, kept).status_code == 200
    assert count_rows(clean_app, Call) == calls_before - preview["calls"]
    assert count_rows(clean_app, Task) == tasks_before - preview["tasks"]
    assert count_rows(clean_app, Note) == 0
    for e164 in ("+919876543210", "+919845077777"):
        assert count_rows(clean_app, RecordPhone, e164=e164) == 0 and count_rows(clean_app, Call, e164=e164) == 0
    actions = [e["action"] for e in admin.get("/api/v1/audit").json["items"]]
    assert actions.count("person.erase_preview") == 2 and actions.count("person.erase") == 1


def test_a_lead_erasure_preview_takes_the_leads_merged_into_it(clean_app, page_team):
    admin, manager, ravi, sita = page_team
    upload_calls(ravi, call_row(1, "+91 91234 56789"), call_row(2, "+91 91234 00000"), batch="r")
    leads = {lead["phone"]: lead["id"] for lead in admin.get("/api/v1/leads?status=pending_review").json["items"]}
    main, other = leads["+919123456789"], leads["+919123400000"]
    assert admin.post(f"/api/v1/leads/{other}/merge", json={"into_type": "lead", "into_id": main}).status_code == 200
    browser = signed_in(clean_app, admin)
    page = browser.get(f"/records/lead/{main}/erase").get_data(as_text=True)
    preview = counts_on(page)
    assert preview["leads"] == 2 and preview["calls"] == 2
    dry = admin.post("/api/v1/erasure?dry_run=true", json={"record_type": "lead", "record_id": main}).json
    real = admin.post("/api/v1/erasure", json={"record_type": "lead", "record_id": main}).json
    assert {k: dry["deleted"][k] for k in COUNTED} == preview == {k: real["deleted"][k] for k in COUNTED}
    assert dry["numbers_erased"] == real["numbers_erased"] and "dry_run" not in real or real["dry_run"] is False
    assert admin.get(f"/api/v1/leads/{other}").status_code == 404


def test_the_dry_run_by_phone_matches_the_erasure(clean_app, page_team):
    admin, manager, ravi = page_team[:3]
    add_contact(admin, "Asha Rao", "+91 98765 43210", "+91 98450 77777")
    upload_calls(ravi, call_row(1, "+91 98765 43210"), call_row(2, "+91 98765 43210", type_=3, duration=0), batch="r")
    dry = admin.post("/api/v1/erasure?dry_run=true", json={"phone": "98765 43210"}).json
    real = admin.post("/api/v1/erasure", json={"phone": "98765 43210"}).json
    assert {k: dry["deleted"][k] for k in COUNTED} == {k: real["deleted"][k] for k in COUNTED}
    assert dry["deleted"]["calls"] == 2 and dry["numbers_erased"] == real["numbers_erased"] == 1
    assert admin.post("/api/v1/erasure?dry_run=true", json={"phone": "98765 43210"}).json["deleted"]["calls"] == 0


def test_only_admins_erase_and_another_organisations_record_is_404(clean_app, page_team, make_org):
    admin, manager = page_team[:2]
    asha = add_contact(admin, "Asha Rao", "+91 98765 43210")
    response = signed_in(clean_app, manager).get(f"/records/contact/{asha}/erase")
    assert response.status_code == 403 and "Only an admin can erase" in page_text(response)
    assert manager.post("/api/v1/erasure?dry_run=true", json={"record_type": "contact", "record_id": asha}
                        ).status_code == 403
    other = make_org(region="IN")
    theirs = add_contact(other, "Outsider", "+91 98765 49999")
    browser = signed_in(clean_app, admin)
    assert browser.get(f"/records/contact/{theirs}/erase").status_code == 404
    assert post(browser, f"/records/contact/{theirs}/erase").status_code == 404
    assert browser.get(f"/records/person/{asha}/erase").status_code == 404
    assert contact_json(other, theirs).status_code == 200
