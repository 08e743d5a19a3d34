"""One query box (`q`) for leads, contacts and calls: a name, company or
e-mail prefix, or a number in any form (national, international, the last 6+
digits, a merged record's other numbers), with `sort` and, for leads, counts
per status. Never another organisation's records."""
from __future__ import annotations

import pytest

from tests.phone_data import call_row

ASHA = "+91 98765 43210"
KIRAN = "+91 91234 56789"


@pytest.fixture
def book(make_org, make_device, clock):
    """Leads and contacts of one Indian organisation, and calls with them."""
    admin = make_device(make_org(region="IN"))
    made = {}
    for name, phone, company, email in (("Asha Rao", ASHA, "Rao Traders", "asha@rao.example"),
                                        ("Kiran Kumar", KIRAN, "Blue Dart", "kiran@bluedart.example"),
                                        ("ashok Mehta", "+91 90000 11111", None, None)):
        response = admin.post("/api/v1/leads", json={"name": name, "phone": phone, "company": company})
        assert response.status_code == 201, response.json
        made[name] = response.json["id"]
        if email:
            assert admin.patch(f"/api/v1/leads/{made[name]}", json={"email": email}).status_code == 200
    contact = admin.post("/api/v1/contacts", json={"name": "Zoya Ahmed", "company": "Ashoka Mills",
                                                   "phones": ["+44 20 7946 0958", "+91 99887 76655"]})
    assert contact.status_code == 201
    made["Zoya Ahmed"] = contact.json["id"]
    synced = admin.post("/api/v1/sync/calls", device=True, json={"batch_id": "s", "calls": [
        call_row(1, "098765 43210", type_=2), call_row(2, "09123456789", type_=1), call_row(3, "02079460958",
                                                                                          countryiso="GB")]})
    assert synced.status_code == 200 and synced.json["accepted"] == 3
    return admin, made


def names(response):
    assert response.status_code == 200, response.json
    return sorted(item["name"] for item in response.json["items"])


@pytest.mark.parametrize("q, found", [
    ("ash", ["Asha Rao", "ashok Mehta"]),          # name prefix, any case
    ("ASHA", ["Asha Rao"]),
    ("rao tr", ["Asha Rao"]),                       # company prefix
    ("kiran@blue", ["Kiran Kumar"]),                # e-mail prefix
    ("Rao", ["Asha Rao"]),                          # the company, not the surname: prefixes only
    ("+91 98765 43210", ["Asha Rao"]),              # international
    ("098765 43210", ["Asha Rao"]),                 # national, with the trunk prefix
    ("9876543210", ["Asha Rao"]),                   # national significant number
    ("0091 98765 43210", ["Asha Rao"]),             # international prefix
    ("543210", ["Asha Rao"]),                       # last 6 digits
    ("65 43210", ["Asha Rao"]),                     # last 7, spaced
    ("43210", []),                                  # 5 digits: too few to be a number
    ("%", []), ("_", []), ("a\\", []),               # no wildcards
    ("nobody", []),
])
def test_leads_are_found_by_name_company_email_prefix_or_any_form_of_their_number(book, q, found):
    admin, _ = book
    assert names(admin.get("/api/v1/leads", query_string={"q": q})) == found


def test_contacts_are_found_the_same_way_by_each_of_their_numbers(book):
    admin, _ = book
    for q in ("zoy", "ashoka", "+44 20 7946 0958", "020 7946 0958", "7946 0958", "99887 76655", "776655"):
        assert names(admin.get("/api/v1/contacts", query_string={"q": q})) == ["Zoya Ahmed"], q
    assert names(admin.get("/api/v1/contacts", query_string={"q": "asha"})) == []


def test_a_merged_leads_number_finds_the_record_it_was_merged_into(book):
    admin, made = book
    merged = admin.post(f"/api/v1/leads/{made['Kiran Kumar']}/merge",
                        json={"into_type": "contact", "into_id": made["Zoya Ahmed"]})
    assert merged.status_code == 200, merged.json
    assert names(admin.get("/api/v1/contacts", query_string={"q": "456789"})) == ["Zoya Ahmed"]


def test_calls_are_found_by_number_or_by_the_name_of_who_was_called(book):
    admin, _ = book

    def numbers(q):
        response = admin.get("/api/v1/calls", query_string={"q": q})
        assert response.status_code == 200, response.json
        return sorted(call["number"] for call in response.json["items"])

    assert numbers("098765 43210") == ["+919876543210"]
    assert numbers("asha") == ["+919876543210"]           # the lead's name
    assert numbers("Blue") == ["+919123456789"]           # the lead's company
    assert numbers("ashoka") == ["+442079460958"]         # the contact's company
    assert numbers("460958") == ["+442079460958"]         # a record's number's last digits
    assert numbers("nobody") == []


def test_sort_by_name_created_or_last_call(book):
    admin, made = book

    def order(sort):
        response = admin.get("/api/v1/leads", query_string={"sort": sort} if sort else {})
        assert response.status_code == 200
        return [item["name"] for item in response.json["items"]]

    assert order("name") == ["Asha Rao", "ashok Mehta", "Kiran Kumar"]
    assert order(None) == order("created") == ["ashok Mehta", "Kiran Kumar", "Asha Rao"]
    assert order("last_call") == ["Kiran Kumar", "Asha Rao", "ashok Mehta"]  # the call at minute 2 is latest
    assert admin.get("/api/v1/leads?sort=phone").status_code == 422


def test_lead_lists_count_each_status_under_the_same_filters(book):
    admin, made = book
    assert admin.post(f"/api/v1/leads/{made['Asha Rao']}/approve").status_code == 200
    everything = admin.get("/api/v1/leads").json["counts"]
    assert everything == {"pending_review": 2, "approved": 1, "rejected": 0, "merged": 0}
    pending = admin.get("/api/v1/leads?status=pending_review&q=ash").json
    assert [item["name"] for item in pending["items"]] == ["ashok Mehta"]
    assert pending["counts"] == {"pending_review": 1, "approved": 1, "rejected": 0, "merged": 0}


def test_search_never_finds_another_organisations_records(book, make_org):
    stranger = make_org(region="IN")
    assert stranger.post("/api/v1/leads", json={"name": "Asha Other", "phone": "+91 98000 43210"}).status_code == 201
    admin, _ = book
    assert names(admin.get("/api/v1/leads", query_string={"q": "asha"})) == ["Asha Rao"]
    assert names(stranger.get("/api/v1/leads", query_string={"q": "543210"})) == []
    assert names(stranger.get("/api/v1/contacts", query_string={"q": "zoya"})) == []
    assert stranger.get("/api/v1/calls", query_string={"q": "asha"}).json["items"] == []


def test_a_long_or_empty_query(book):
    admin, _ = book
    assert admin.get("/api/v1/leads", query_string={"q": "a" * 101}).status_code == 422
    assert len(admin.get("/api/v1/leads", query_string={"q": ""}).json["items"]) == 3


def test_non_latin_names_are_found_by_their_prefix(make_org):
    admin = make_org(region="IN")
    assert admin.post("/api/v1/leads", json={"name": "आशा राव", "phone": "+91 98111 22233"}).status_code == 201
    assert admin.post("/api/v1/contacts", json={"name": "王芳", "phones": ["+86 138 0013 8000"]}).status_code == 201
    assert names(admin.get("/api/v1/leads", query_string={"q": "आशा"})) == ["आशा राव"]
    assert names(admin.get("/api/v1/contacts", query_string={"q": "王"})) == ["王芳"]


def test_trailing_digits_that_start_with_zero_are_kept(make_org):
    admin = make_org(region="IN")
    assert admin.post("/api/v1/leads", json={"name": "Zero Tail", "phone": "+91 98760 01027"}).status_code == 201
    for q in ("001027", "6001027", "76001027", "098760 01027"):
        assert names(admin.get("/api/v1/leads", query_string={"q": q})) == ["Zero Tail"], q


@pytest.fixture
def people(make_org, clock):
    """Contacts created one minute apart, oldest first; "ra" finds each by a different field."""
    admin = make_org(region="IN")
    for name, company, email, phone in (("Raman Iyer", None, None, "+91 98000 00001"),
                                        ("Zara Khan", "Rapid Logistics", None, "+91 98000 00002"),
                                        ("Bilal Ahmed", None, "rafiq@example.test", "+91 98000 00003"),
                                        ("Rachel Green", "Acme", None, "+91 98000 00004"),
                                        ("Omar Said", "123456 Traders", None, "+91 98000 00005"),
                                        ("Tara Rao", None, None, "+91 97111 23456")):
        clock.advance(minutes=1)
        response = admin.post("/api/v1/contacts", json={"name": name, "company": company, "email": email,
                                                        "phones": [phone]})
        assert response.status_code == 201, response.json
    return admin


def listed(admin, **query):
    response = admin.get("/api/v1/contacts", query_string=query)
    assert response.status_code == 200, response.json
    return [item["name"] for item in response.json["items"]], response.json["next_page"]


def test_a_text_search_lists_by_the_name_company_or_email_it_matched_a_to_z(people):
    # "rachel green" < "rafiq@example.test" < "raman iyer" < "rapid logistics"
    assert listed(people, q="ra")[0] == ["Rachel Green", "Bilal Ahmed", "Raman Iyer", "Zara Khan"]
    assert listed(people, q="RA", sort="name")[0] == ["Bilal Ahmed", "Rachel Green", "Raman Iyer", "Zara Khan"]
    assert listed(people, q="ra", sort="created")[0] == ["Rachel Green", "Bilal Ahmed", "Zara Khan", "Raman Iyer"]
    assert listed(people, q="ra", sort="last_call")[0] == ["Rachel Green", "Bilal Ahmed", "Zara Khan", "Raman Iyer"]
    assert listed(people)[0] == ["Tara Rao", "Omar Said", "Rachel Green", "Bilal Ahmed", "Zara Khan", "Raman Iyer"]


@pytest.mark.parametrize("sort", [None, "name", "created", "last_call"])
@pytest.mark.parametrize("path", ["as_is", "mixed", "many"])
def test_pages_of_a_search_follow_on_without_gaps_or_repeats(people, monkeypatch, sort, path):
    """Page by page, in each order, whether a prefix's matches are few (sorted)
    or many (read by walking the index of the order); newest first, "mixed":
    the names' matches walked, the company's and the e-mail's read from their indexes."""
    if path == "mixed":  # "ra": 2 names, 1 company, 1 e-mail address
        monkeypatch.setattr("mobile_sync.store.list_pages._Built.narrow_cap", 2)
    if path == "many":
        monkeypatch.setattr("mobile_sync.record_pages.MAX_MATCHED_RECORDS", 1)
        monkeypatch.setattr("mobile_sync.store.list_pages._Built.narrow_cap", 1)
    query = {"q": "ra", **({"sort": sort} if sort else {})}
    whole, _ = listed(people, **query)
    assert len(whole) == 4
    pages, page = [], 1
    while page:
        items, page = listed(people, limit=1, page=page, **query)
        pages += items
    assert pages == whole
    assert listed(people, limit=3, page=2, **query) == (whole[3:], None)


def test_a_query_that_reads_as_a_number_also_finds_it_as_text(people):
    # Tara's number ends in 123456; Omar's company starts with it: the number's record first.
    assert listed(people, q="123456")[0] == ["Tara Rao", "Omar Said"]
    assert listed(people, q="123456", sort="name")[0] == ["Omar Said", "Tara Rao"]
    calls = people.get("/api/v1/calls", query_string={"q": "123456"})
    assert calls.status_code == 200 and calls.json["items"] == []


def test_by_latest_call_the_records_never_called_come_last(book):
    admin, _ = book
    names_by_call = [item["name"] for item in admin.get("/api/v1/leads", query_string={
        "q": "a", "sort": "last_call"}).json["items"]]
    assert names_by_call == ["Asha Rao", "ashok Mehta"]  # Asha was called; ashok never
