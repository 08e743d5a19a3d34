"""A line merged into an existing contact by name and number brings its other
numbers to that contact (up to the contact's limit of numbers), whether the
contact was there before the import, earlier in the file or in an earlier
block; caller ID then names the contact on those numbers too."""
from mobile_sync.contact_csv_file import CHUNK
from schemas.contacts import PHONES_MAX
from tests.api import contact_requests
from tests.api.contact_requests import create, csv_body, import_csv, who

team = contact_requests.team  # the fixture: pytest finds it under this name in this module


def _numbers(actor, contact_id):
    return actor.get(f"/api/v1/contacts/{contact_id}").json["phones"]


def test_a_merged_line_adds_its_other_numbers_to_the_existing_contact(team):
    admin = team["admin"]
    contact = create(admin, name="Asha Rao", phones=["9876543210"]).json
    report = import_csv(admin, csv_body("asha rao,,,,+91 98765 43210;022 2345 6789;9123456780")).json
    assert (report["imported"], report["merged"], report["failed"]) == (0, 1, 0)
    assert len(_numbers(admin, contact["id"])) == 3
    assert who(team["rep"], "022 2345 6789")["name"] == "Asha Rao"
    assert who(team["rep"], "9123456780")["name"] == "Asha Rao"
    # Importing it again changes nothing.
    assert import_csv(admin, csv_body("Asha Rao,,,,9876543210;02223456789")).json["merged"] == 1
    assert len(_numbers(admin, contact["id"])) == 3


def test_a_duplicate_later_in_the_file_adds_its_numbers_to_the_new_contact(team):
    admin = team["admin"]
    report = import_csv(admin, csv_body("Bala,,,,9876500001", "BALA,,,,9876500001;9876500002")).json
    assert (report["imported"], report["merged"]) == (1, 1)
    bala = who(team["rep"], "9876500002")
    assert bala["name"] == "Bala"
    assert who(team["rep"], "9876500001") == bala


def test_a_duplicate_in_a_later_block_adds_its_numbers(team):
    admin = team["admin"]
    filler = [f"Filler {i},,,,98{i:08d}" for i in range(CHUNK)]
    report = import_csv(admin, csv_body("Chitra,,,,9876500011", *filler, "Chitra,,,,9876500011;9876500012")).json
    assert (report["imported"], report["merged"]) == (CHUNK + 1, 1)
    assert who(team["rep"], "9876500012")["name"] == "Chitra"


def test_merged_numbers_stop_at_the_contacts_limit(team):
    admin = team["admin"]
    held = [f"98765{i:05d}" for i in range(PHONES_MAX - 1)]
    contact = create(admin, name="Dev", phones=held).json
    more = [held[0], "9123400001", "9123400002"]
    assert import_csv(admin, csv_body("Dev,,,," + ";".join(more))).json["merged"] == 1
    assert len(_numbers(admin, contact["id"])) == PHONES_MAX
    assert who(team["rep"], "9123400001")["name"] == "Dev"
    assert who(team["rep"], "9123400002") is None
