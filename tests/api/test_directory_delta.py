"""Every mutation that changes what a caller card shows (number, name,
company, source, owner, record) reaches a phone's offline directory: the
phone pulls `GET /api/v1/directory` after its cursor and sees the new card,
or the number in `removed`. What a card does not show (a lead's status, the
last note) sends the phone nothing."""
import pytest

from tests.api.contact_requests import csv_body, import_csv
from tests.phone_data import call_row

ASHA, ASHA_E164 = "098765 43210", "+919876543210"
OTHER, OTHER_E164 = "+91 98450 77777", "+919845077777"
STRANGER, STRANGER_E164 = "+91 91234 56789", "+919123456789"
E164 = {ASHA: ASHA_E164, OTHER: OTHER_E164, STRANGER: STRANGER_E164}


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    return {"admin": admin, "manager": make_user(admin, "manager", name="Meera Manager"),
            "ravi": make_device(make_user(admin, name="Ravi Rep")), "sita": make_user(admin, name="Sita Rep")}


def pull(phone, cursor="0") -> dict:
    response = phone.get("/api/v1/directory", device=True, query_string={"cursor": cursor})
    assert response.status_code == 200, response.json
    return response.json


def cursor_now(phone) -> str:
    """The phone is up to date: its cursor after pulling everything."""
    delta = pull(phone)
    while delta["has_more"]:
        delta = pull(phone, delta["cursor"])
    return delta["cursor"]


def changes_since(phone, cursor) -> tuple[dict, list]:
    """({number: card}, removed numbers) the phone pulls after `cursor`."""
    delta = pull(phone, cursor)
    assert delta["reset"] is False
    return {card["number"]: card for card in delta["cards"]}, sorted(delta["removed"])


def ok(response, status=200):
    assert response.status_code == status, response.json
    return response.json


def new_contact(actor, **fields):
    return ok(actor.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [ASHA], **fields}), 201)


def lead_from_a_call(rep, number=STRANGER, name=None) -> dict:
    row = list(E164).index(number) + 1  # one call log row per number
    ok(rep.post("/api/v1/sync/calls", device=True,
                json={"batch_id": f"b{row}", "calls": [call_row(row, number, name=name)]}))
    (lead,) = [item for item in ok(rep.get("/api/v1/leads"))["items"] if item["phone"] == E164[number]]
    return lead


# --- leads ------------------------------------------------------------------

def test_a_new_lead_from_a_call_appears(team):
    ravi = team["ravi"]
    cursor = cursor_now(ravi)
    lead = lead_from_a_call(ravi, name="Kiran")
    cards, removed = changes_since(ravi, cursor)
    assert removed == [] and list(cards) == [STRANGER_E164]
    card = cards[STRANGER_E164]
    assert (card["record_type"], card["record_id"], card["name"], card["source"], card["owner"]) == (
        "lead", lead["id"], "Kiran", "phone_call", "Ravi Rep")


def test_a_lead_typed_in_appears(team):
    ravi = team["ravi"]
    cursor = cursor_now(ravi)
    lead = ok(ravi.post("/api/v1/leads", json={"name": "Walk-in", "phone": STRANGER, "source": "expo"}), 201)
    cards, _ = changes_since(ravi, cursor)
    assert (cards[STRANGER_E164]["record_id"], cards[STRANGER_E164]["source"]) == (lead["id"], "expo")


def test_an_assigned_lead_shows_its_new_owner(team):
    ravi, manager, sita = team["ravi"], team["manager"], team["sita"]
    lead = lead_from_a_call(ravi)
    cursor = cursor_now(ravi)
    ok(manager.post(f"/api/v1/leads/{lead['id']}/assign", json={"user_id": sita.user_id}))
    cards, removed = changes_since(ravi, cursor)
    assert removed == [] and cards[STRANGER_E164]["owner"] == "Sita Rep"


def test_a_bulk_assign_shows_the_new_owner(team):
    ravi, manager, sita = team["ravi"], team["manager"], team["sita"]
    lead = lead_from_a_call(ravi)
    cursor = cursor_now(ravi)
    ok(manager.post("/api/v1/leads/bulk", json={"ids": [lead["id"]], "action": "assign",
                                                "user_id": sita.user_id}))
    assert changes_since(ravi, cursor)[0][STRANGER_E164]["owner"] == "Sita Rep"


def test_a_renamed_lead_shows_its_new_name(team):
    ravi = team["ravi"]
    lead = lead_from_a_call(ravi)
    cursor = cursor_now(ravi)
    ok(ravi.patch(f"/api/v1/leads/{lead['id']}", json={"name": "Kiran", "company": "Kiran Steel",
                                                        "source": "referral"}))
    card = changes_since(ravi, cursor)[0][STRANGER_E164]
    assert (card["name"], card["company"], card["source"]) == ("Kiran", "Kiran Steel", "referral")


def test_a_lead_merged_into_a_contact_shows_the_contact(team):
    ravi, manager = team["ravi"], team["manager"]
    contact = new_contact(manager, name="Kiran Steel Ltd")
    lead = lead_from_a_call(ravi)
    cursor = cursor_now(ravi)
    ok(manager.post(f"/api/v1/leads/{lead['id']}/merge", json={"into_type": "contact", "into_id": contact["id"]}))
    cards, removed = changes_since(ravi, cursor)
    assert removed == []
    card = cards[STRANGER_E164]
    assert (card["record_type"], card["record_id"], card["name"]) == ("contact", contact["id"], "Kiran Steel Ltd")


def test_a_lead_merged_into_another_lead_shows_that_lead(team):
    ravi, manager = team["ravi"], team["manager"]
    kept = lead_from_a_call(ravi, OTHER)
    merged = lead_from_a_call(ravi)
    cursor = cursor_now(ravi)
    ok(manager.post(f"/api/v1/leads/{merged['id']}/merge", json={"into_type": "lead", "into_id": kept["id"]}))
    cards, _ = changes_since(ravi, cursor)
    assert (cards[STRANGER_E164]["record_type"], cards[STRANGER_E164]["record_id"]) == ("lead", kept["id"])


@pytest.mark.parametrize("decision, body", [("approve", None), ("reject", {"reason": "spam"}),
                                            ("reject", {"reason": "personal"})])
def test_a_review_decision_sends_nothing_the_card_does_not_show(team, decision, body):
    ravi, manager = team["ravi"], team["manager"]
    lead = lead_from_a_call(ravi)
    cursor = cursor_now(ravi)
    ok(manager.post(f"/api/v1/leads/{lead['id']}/{decision}", json=body))
    assert changes_since(ravi, cursor) == ({}, [])
    # The phone's card is still the lead (caller ID names it too).
    assert {c["number"]: c["record_id"] for c in pull(ravi)["cards"]}[STRANGER_E164] == lead["id"]


def test_a_new_last_note_sends_nothing_the_card_does_not_show(team):
    ravi = team["ravi"]
    lead = lead_from_a_call(ravi)
    cursor = cursor_now(ravi)
    ok(ravi.post(f"/api/v1/records/lead/{lead['id']}/notes", json={"text": "Wants a quote"}), 201)
    assert changes_since(ravi, cursor) == ({}, [])


# --- contacts ---------------------------------------------------------------

def test_a_new_contact_appears(team):
    ravi = team["ravi"]
    cursor = cursor_now(ravi)
    contact = new_contact(ravi, company="Rao Traders", source="expo")
    card = changes_since(ravi, cursor)[0][ASHA_E164]
    assert (card["record_id"], card["company"], card["source"], card["owner"]) == (
        contact["id"], "Rao Traders", "expo", "Ravi Rep")


def test_contacts_imported_from_a_csv_file_appear(team):
    ravi, manager = team["ravi"], team["manager"]
    cursor = cursor_now(ravi)
    ok(import_csv(manager, csv_body(f"Asha Rao,Rao Traders,,expo,{ASHA}")))
    card = changes_since(ravi, cursor)[0][ASHA_E164]
    assert (card["name"], card["company"]) == ("Asha Rao", "Rao Traders")


def test_a_renamed_contact_shows_its_new_name(team):
    ravi = team["ravi"]
    contact = new_contact(ravi, phones=[ASHA, OTHER])
    cursor = cursor_now(ravi)
    ok(ravi.patch(f"/api/v1/contacts/{contact['id']}", json={"name": "Asha R. Rao", "company": "Rao & Sons"}))
    cards, removed = changes_since(ravi, cursor)
    assert removed == [] and sorted(cards) == sorted([ASHA_E164, OTHER_E164])
    assert {(c["name"], c["company"]) for c in cards.values()} == {("Asha R. Rao", "Rao & Sons")}


def test_a_contact_given_to_another_owner_shows_the_new_owner(team):
    ravi, manager, sita = team["ravi"], team["manager"], team["sita"]
    contact = new_contact(manager, owner_id=ravi.user_id)
    cursor = cursor_now(ravi)
    ok(manager.patch(f"/api/v1/contacts/{contact['id']}", json={"owner_id": sita.user_id}))
    assert changes_since(ravi, cursor)[0][ASHA_E164]["owner"] == "Sita Rep"


def test_an_edit_the_card_does_not_show_sends_nothing(team):
    ravi = team["ravi"]
    contact = new_contact(ravi)
    cursor = cursor_now(ravi)
    ok(ravi.patch(f"/api/v1/contacts/{contact['id']}", json={"email": "asha@example.test"}))
    assert changes_since(ravi, cursor) == ({}, [])


def test_a_number_added_to_a_contact_appears(team):
    ravi = team["ravi"]
    contact = new_contact(ravi)
    cursor = cursor_now(ravi)
    ok(ravi.patch(f"/api/v1/contacts/{contact['id']}", json={"phones": [ASHA, OTHER]}))
    cards, removed = changes_since(ravi, cursor)
    assert removed == [] and cards[OTHER_E164]["record_id"] == contact["id"]


def test_a_number_removed_from_a_contact_is_removed(team):
    ravi = team["ravi"]
    contact = new_contact(ravi, phones=[ASHA, OTHER])
    cursor = cursor_now(ravi)
    ok(ravi.patch(f"/api/v1/contacts/{contact['id']}", json={"phones": [ASHA]}))
    assert changes_since(ravi, cursor) == ({}, [OTHER_E164])


def test_a_renamed_contact_with_new_numbers_shows_the_name_on_every_number(team):
    ravi = team["ravi"]
    contact = new_contact(ravi, phones=[ASHA])
    cursor = cursor_now(ravi)
    ok(ravi.patch(f"/api/v1/contacts/{contact['id']}", json={"name": "Asha R.", "phones": [OTHER]}))
    cards, removed = changes_since(ravi, cursor)
    assert removed == [ASHA_E164] and cards[OTHER_E164]["name"] == "Asha R."


def test_a_deleted_contact_is_removed(team):
    ravi = team["ravi"]
    contact = new_contact(ravi, phones=[ASHA, OTHER])
    cursor = cursor_now(ravi)
    assert ravi.delete(f"/api/v1/contacts/{contact['id']}").status_code == 204
    assert changes_since(ravi, cursor) == ({}, sorted([ASHA_E164, OTHER_E164]))


# --- users ------------------------------------------------------------------

def test_a_colleagues_number_set_appears_and_unset_is_removed(team):
    ravi, admin, sita = team["ravi"], team["admin"], team["sita"]
    cursor = cursor_now(ravi)
    ok(admin.patch(f"/api/v1/users/{sita.user_id}", json={"phone": STRANGER}))
    card = changes_since(ravi, cursor)[0][STRANGER_E164]
    assert (card["record_type"], card["record_id"], card["name"]) == ("user", sita.user_id, "Sita Rep")
    cursor = cursor_now(ravi)
    ok(admin.patch(f"/api/v1/users/{sita.user_id}", json={"phone": None}))
    assert changes_since(ravi, cursor) == ({}, [STRANGER_E164])


def test_ones_own_number_set_appears(team):
    ravi = team["ravi"]
    cursor = cursor_now(ravi)
    ok(ravi.patch("/api/v1/me", json={"phone": STRANGER}))
    assert changes_since(ravi, cursor)[0][STRANGER_E164]["record_id"] == ravi.user_id


def test_a_renamed_user_is_the_new_owner_name_on_their_records_cards(team):
    ravi, admin, sita = team["ravi"], team["admin"], team["sita"]
    new_contact(admin, owner_id=sita.user_id)
    ok(admin.patch(f"/api/v1/users/{sita.user_id}", json={"phone": STRANGER}))
    new_contact(admin, name="Not Sita's", phones=[OTHER])
    cursor = cursor_now(ravi)
    ok(admin.patch(f"/api/v1/users/{sita.user_id}", json={"name": "Sita Sharma"}))
    cards, removed = changes_since(ravi, cursor)
    assert removed == [] and sorted(cards) == sorted([STRANGER_E164, ASHA_E164])
    assert (cards[ASHA_E164]["owner"], cards[STRANGER_E164]["name"]) == ("Sita Sharma", "Sita Sharma")


# --- erasure and consent ----------------------------------------------------

def rebuilt(phone, cursor) -> dict:
    """After an erasure the phone is told to rebuild; what it rebuilds."""
    delta = pull(phone, cursor)
    assert delta["reset"] is True
    cards, removed = {c["number"]: c for c in delta["cards"]}, set(delta["removed"])
    while delta["has_more"]:
        delta = pull(phone, delta["cursor"])
        cards.update({c["number"]: c for c in delta["cards"]})
        removed |= set(delta["removed"])
    return {"cards": cards, "removed": removed}


def test_erasing_a_number_removes_the_card_of_the_other_number(team):
    ravi, admin = team["ravi"], team["admin"]
    new_contact(admin, phones=[ASHA, OTHER])
    kept = new_contact(admin, name="Bala", phones=[STRANGER])
    cursor = cursor_now(ravi)
    ok(admin.post("/api/v1/erasure", json={"phone": ASHA}))
    after = rebuilt(ravi, cursor)
    assert ASHA_E164 not in after["cards"] and ASHA_E164 not in after["removed"]
    assert OTHER_E164 in after["removed"] and after["cards"][STRANGER_E164]["record_id"] == kept["id"]


@pytest.mark.parametrize("record_type", ["contact", "lead"])
def test_erasing_a_record_removes_every_card_of_it(team, record_type):
    ravi, admin = team["ravi"], team["admin"]
    if record_type == "contact":
        record_id = new_contact(admin, phones=[ASHA, OTHER])["id"]
    else:
        record_id = lead_from_a_call(ravi, ASHA)["id"]
    kept = new_contact(admin, name="Bala", phones=[STRANGER])
    cursor = cursor_now(ravi)
    ok(admin.post("/api/v1/erasure", json={"record_type": record_type, "record_id": record_id}))
    after = rebuilt(ravi, cursor)
    assert ASHA_E164 not in after["cards"] and OTHER_E164 not in after["cards"]
    assert ASHA_E164 not in after["removed"]  # never named again, even as removed
    assert after["cards"][STRANGER_E164]["record_id"] == kept["id"]


def test_withdrawing_call_log_consent_removes_the_leads_its_calls_made(team, client):
    ravi = team["ravi"]
    lead_from_a_call(ravi)
    cursor = cursor_now(ravi)
    version = client.get("/api/v1/consent/policy").json["version"]
    ok(ravi.put(f"/api/v1/devices/{ravi.device_id}/consent", device=True,
                json={"contacts": True, "call_log": False, "policy_version": version}))
    assert changes_since(ravi, cursor) == ({}, [STRANGER_E164])
