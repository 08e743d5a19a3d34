"""Caller ID: exact, national and suffix matches, precedence, shared numbers,
tenant isolation, the phone book, the directory."""
import pytest

from tests.phone_data import contact_row


def add_contact(app, org_id, name, *numbers, company=None, region="IN", owner_id=None, note=None):
    from mobile_sync.phone_index import parse_phones, set_record_phones
    from server.clock import now
    from server.extensions import db
    from mobile_sync.store.models import Contact

    with app.test_request_context():
        contact = Contact(organization_id=org_id, name=name, company=company, owner_id=owner_id, source="expo",
                          last_note=note)
        db.session.add(contact)
        db.session.flush()
        set_record_phones(db.session, organization_id=org_id, record_type="contact", record_id=contact.id,
                          numbers=parse_phones(list(numbers), region), now=now(), raw=list(numbers))
        db.session.commit()
        return contact.id


def add_lead(app, org_id, name, number, status="pending_review"):
    from mobile_sync.phone_index import parse_phones, set_record_phones
    from server.clock import now
    from server.extensions import db
    from mobile_sync.store.models import Lead

    with app.test_request_context():
        phones = parse_phones([number], "IN")
        lead = Lead(organization_id=org_id, name=name, phone=phones[0].e164, status=status, source="phone_call")
        db.session.add(lead)
        db.session.flush()
        set_record_phones(db.session, organization_id=org_id, record_type="lead", record_id=lead.id,
                          numbers=phones, now=now())
        db.session.commit()
        return lead.id


def who(actor, number, device=False):
    response = actor.get("/api/v1/caller-id", query_string={"number": number}, device=device)
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def rep(make_org, make_user, make_device):
    return make_device(make_user(make_org(region="IN"), name="Ravi Rep"))


@pytest.mark.parametrize("stored", ["+91 98765 43210", "098765 43210", "9876543210"])
@pytest.mark.parametrize("asked", ["+91 98765 43210", "098765 43210", "9876543210", "+919876543210"])
def test_the_same_customer_is_found_from_any_form(rep, clean_app, stored, asked):
    contact_id = add_contact(clean_app, rep.organization_id, "Asha Rao", stored, company="Rao Traders",
                             owner_id=rep.user_id, note="Wants   a quote\nfor 200 units")
    result = who(rep, asked, device=True)
    assert result["number"] == "+919876543210"
    match = result["match"]
    assert (match["record_type"], match["record_id"], match["grade"]) == ("contact", contact_id, "exact")
    assert match["name"] == "Asha Rao" and match["company"] == "Rao Traders" and match["owner"] == "Ravi Rep"
    assert match["last_note"] == "Wants a quote for 200 units" and match["source"] == "expo"


def test_contact_takes_precedence_over_lead(rep, clean_app):
    add_lead(clean_app, rep.organization_id, "Lead Person", "+91 98765 43210")
    contact_id = add_contact(clean_app, rep.organization_id, "Asha Rao", "+91 98765 43210")
    result = who(rep, "9876543210")
    assert result["match"]["record_id"] == contact_id
    assert [c["record_type"] for c in result["candidates"]] == ["lead"]


def test_lead_match_carries_its_status(rep, clean_app):
    lead_id = add_lead(clean_app, rep.organization_id, "New Caller", "+91 91234 56789")
    match = who(rep, "091234 56789")["match"]
    assert (match["record_type"], match["record_id"], match["lead_status"]) == ("lead", lead_id, "pending_review")


def test_shared_switchboard_number_answers_with_company_and_candidates(rep, clean_app):
    ids = [add_contact(clean_app, rep.organization_id, name, "+44 20 7946 0958", company="Acme Ltd", region="GB")
           for name in ("Ann", "Bob", "Cat")]
    result = who(rep, "+44 20 7946 0958")
    assert result["match"]["record_type"] == "shared" and result["match"]["name"] == "Acme Ltd"
    assert sorted(c["record_id"] for c in result["candidates"]) == sorted(ids)


def test_national_grade_when_only_the_country_code_differs(rep, clean_app):
    # London 020 7946 0958 and Maine (207) 946-0958 share the national digits 2079460958.
    contact_id = add_contact(clean_app, rep.organization_id, "Asha", "+44 20 7946 0958", region="GB")
    match = who(rep, "+1 207-946-0958")["match"]
    assert (match["record_id"], match["grade"]) == (contact_id, "national")


def test_suffix_match_is_confident_only_for_one_record(rep, clean_app):
    contact_id = add_contact(clean_app, rep.organization_id, "Asha", "+91 98765 43210")
    result = who(rep, "+1 650 654 3210")  # shares the last 7 digits
    assert result["match"]["record_id"] == contact_id and result["match"]["grade"] == "suffix"
    add_contact(clean_app, rep.organization_id, "Other", "+91 91265 43210")  # same last 7 digits
    result = who(rep, "+1 650 654 3210")
    assert result["match"] is None and len(result["candidates"]) == 2


def test_two_organisations_never_see_each_others_records(make_org, make_user, make_device, clean_app):
    a = make_device(make_user(make_org(region="IN")))
    b = make_device(make_user(make_org(region="IN")))
    add_contact(clean_app, a.organization_id, "Secret of A", "+91 98765 43210")
    assert who(b, "+91 98765 43210")["match"] is None
    assert who(a, "+91 98765 43210")["match"]["name"] == "Secret of A"


def test_colleagues_are_recognised(rep, make_org, clean_app, make_user):
    response = rep.patch("/api/v1/me", json={"phone": "+91 99000 11122"})
    assert response.status_code == 200 and response.json["phone"] == "+919900011122"
    match = who(rep, "09900011122")["match"]
    assert (match["record_type"], match["name"]) == ("user", "Ravi Rep")


def test_the_reps_phone_book_names_a_caller_only_when_names_are_kept(rep, clean_app):
    rep.post("/api/v1/sync/contacts", device=True, json={
        "batch_id": "pb", "contacts": [contact_row(5, "Mum", "+91 90000 00001")]})
    match = who(rep, "+91 90000 00001")["match"]
    assert match["record_type"] == "phone_contact" and match["name"] is None  # minimised by default


def test_unmatchable_numbers_answer_null(rep):
    result = who(rep, "PRIVATE")
    assert result == {"number": None, "number_status": "restricted", "match": None, "candidates": []}


def test_missing_number_is_422(rep):
    response = rep.get("/api/v1/caller-id")
    assert response.status_code == 422 and "number" in response.json["error"]["fields"]


def test_directory_returns_cards_then_deltas(rep, clean_app):
    first = add_contact(clean_app, rep.organization_id, "Asha", "+91 98765 43210", company="Rao")
    page = rep.get("/api/v1/directory", device=True).json
    assert [(c["number"], c["name"], c["record_id"]) for c in page["cards"]] == [("+919876543210", "Asha", first)]
    cursor = page["cursor"]
    assert rep.get("/api/v1/directory", device=True, query_string={"cursor": cursor}).json["cards"] == []
    from mobile_sync.phone_index import remove_record_phones
    from server.clock import now
    from server.extensions import db

    with clean_app.test_request_context():
        remove_record_phones(db.session, organization_id=rep.organization_id, record_type="contact",
                             record_id=first, now=now())
        db.session.commit()
    delta = rep.get("/api/v1/directory", device=True, query_string={"cursor": cursor}).json
    assert delta["removed"] == ["+919876543210"] and delta["cards"] == []
