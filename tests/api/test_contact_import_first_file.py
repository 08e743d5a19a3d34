"""An organisation's first import looks up in the database only the numbers
it may have stored itself (`number_filter`), while the organisation holds
no contact but the import's; once anyone else's contact comes in during
the import, every number is looked up again, so duplicates are merged
exactly as before."""
from datetime import timedelta

from mobile_sync import contacts_csv
from mobile_sync.contact_csv_file import CHUNK
from mobile_sync.number_filter import NumberFilter
from tests.api import contact_requests
from tests.api.contact_requests import csv_body, import_csv, who

team = contact_requests.team  # the fixture: pytest finds it under this name in this module


def _filler(count: int, start: int = 0) -> list[str]:
    return [f"Filler {i},,,,98{i:08d}" for i in range(start, start + count)]


def test_a_first_file_merges_its_own_duplicates_across_blocks(team):
    admin = team["admin"]
    lines = ["Chitra,,,,9876500011", *_filler(CHUNK), "chitra,,,,9123400011;9876500011",
             *_filler(CHUNK, CHUNK), "CHITRA,,,,9123400011;9123400012", "Filler 3,,,,9800000003"]
    report = import_csv(admin, csv_body(*lines)).json
    assert (report["imported"], report["merged"], report["failed"]) == (2 * CHUNK + 1, 3, 0)
    chitra = who(team["rep"], "9876500011")
    assert chitra["name"] == "Chitra"
    assert who(team["rep"], "9123400012") == chitra
    # Imported again, the whole file is duplicates (every number looked up now).
    again = import_csv(admin, csv_body(*lines)).json
    assert (again["imported"], again["merged"]) == (0, len(lines))


def test_a_contact_made_by_someone_else_during_the_import_is_merged_into(team, monkeypatch):
    admin = team["admin"]
    stored = contacts_csv.insert_contacts
    blocks = []

    def insert_and_someone_else_creates(session, organization_id, owner_id, contacts, now):
        stored(session, organization_id, owner_id, contacts, now)
        blocks.append(len(contacts))
        if len(blocks) == 1:  # after the first block: a colleague's contact, made at another time
            stored(session, organization_id, None, [(0, "Zed", None, None, None, [("+919123400099", "9123400099", None,
                                                                                  "9123400099")])],
                   now - timedelta(seconds=1))

    monkeypatch.setattr(contacts_csv, "insert_contacts", insert_and_someone_else_creates)
    report = import_csv(admin, csv_body(*_filler(CHUNK), "zed,,,,+91 91234 00099;9123400098")).json
    assert blocks == [CHUNK]  # the line with Zed's number came in a later block, and was merged
    assert (report["imported"], report["merged"]) == (CHUNK, 1)
    assert who(team["rep"], "9123400098")["name"] == "Zed"


def test_the_filter_never_misses_a_number_it_was_given():
    numbers = [f"+9198{i:08d}" for i in range(200_000)]
    held = NumberFilter()
    held.add(numbers[:100_000])
    assert all(held.may_hold(n) for n in numbers[:100_000])
    false_positives = sum(held.may_hold(n) for n in numbers[100_000:])
    assert false_positives < 100  # about 1 in 10,000 expected
