"""A contact's numbers in the phone index: Caller ID and the phones' directory
follow its edits and its deletion, and another contact on the same number
keeps it."""
from tests.api import contact_requests
from tests.api.contact_requests import create, who

team = contact_requests.team  # the fixture: pytest finds it under this name in this module


def test_patching_phones_moves_caller_id_to_the_new_numbers(team):
    rep = team["rep"]
    contact_id = create(rep, phones=["9876543210"]).json["id"]
    response = rep.patch(f"/api/v1/contacts/{contact_id}", json={"phones": ["+91 91234 56789"]})
    assert response.json["phones"] == ["+919123456789"]
    assert who(rep, "9876543210") is None
    assert who(rep, "9123456789")["record_id"] == contact_id


def test_a_rename_reaches_the_phones_directory(team, make_device):
    rep = make_device(team["rep"])
    contact_id = create(rep, phones=["9876543210"]).json["id"]
    cursor = rep.get("/api/v1/directory", device=True).json["cursor"]
    rep.patch(f"/api/v1/contacts/{contact_id}", json={"name": "Asha R. Rao", "company": "Rao & Sons"})
    delta = rep.get("/api/v1/directory", device=True, query_string={"cursor": cursor}).json
    assert [(c["number"], c["name"], c["company"]) for c in delta["cards"]] == [
        ("+919876543210", "Asha R. Rao", "Rao & Sons")]


def test_deleting_a_contact_removes_it_from_caller_id_and_the_directory(team, make_device):
    rep = make_device(team["rep"])
    contact_id = create(rep, phones=["9876543210", "+44 20 7946 0958"]).json["id"]
    assert who(rep, "9876543210")["record_id"] == contact_id
    cursor = rep.get("/api/v1/directory", device=True).json["cursor"]
    assert rep.delete(f"/api/v1/contacts/{contact_id}").status_code == 204
    assert rep.get(f"/api/v1/contacts/{contact_id}").status_code == 404
    assert who(rep, "9876543210") is None and who(rep, "+442079460958") is None
    delta = rep.get("/api/v1/directory", device=True, query_string={"cursor": cursor}).json
    assert sorted(delta["removed"]) == ["+442079460958", "+919876543210"] and delta["cards"] == []


def test_deleting_one_contact_keeps_another_on_the_same_number(team):
    rep = team["rep"]
    first = create(rep, name="Front Desk", phones=["9876543210"]).json["id"]
    second = create(rep, name="Asha Rao", phones=["9876543210"]).json["id"]
    rep.delete(f"/api/v1/contacts/{first}")
    assert who(rep, "9876543210")["record_id"] == second
