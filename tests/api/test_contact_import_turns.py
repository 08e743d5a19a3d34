"""SQLite: a large import leaves the write lock free between its
transactions, and sizes them by whether anyone else writes: whole blocks
while nobody does (the load of other processes alone does not shrink them),
short ones from the first write of another connection seen in a gap."""
import pytest
from sqlalchemy import text

from mobile_sync import contacts_csv
from mobile_sync.contact_csv_file import CHUNK
from server.extensions import db
from tests.api import contact_requests
from tests.api.contact_requests import csv_body, generated_lines, import_csv

team = contact_requests.team  # the fixture: pytest finds it under this name in this module


@pytest.fixture
def transactions(request, monkeypatch):
    """The contacts of each of the import's transactions; a fair share as
    small as it gets, and time alone unbounded, so sizes tell the mode."""
    if request.config.getoption("--db") != "sqlite":
        pytest.skip("PostgreSQL's writers do not take turns")
    monkeypatch.setattr(contacts_csv, "TRANSACTION_S", 1e-9)
    monkeypatch.setattr(contacts_csv, "TRANSACTION_ALONE_S", 1e9)
    sizes = []
    stored = contacts_csv.insert_contacts

    def insert(session, organization_id, owner_id, contacts, now):
        stored(session, organization_id, owner_id, contacts, now)
        sizes.append(len(contacts))

    monkeypatch.setattr(contacts_csv, "insert_contacts", insert)
    return sizes


def test_an_import_alone_stores_whole_blocks(team, transactions):
    report = import_csv(team["admin"], csv_body(*generated_lines(CHUNK + 600))).json
    assert report["imported"] == CHUNK + 600
    assert transactions == [CHUNK, 600]


def test_another_connections_write_in_a_gap_shortens_the_next_transactions(team, transactions, make_org,
                                                                            monkeypatch):
    other = make_org(region="IN")
    fetch = contacts_csv._Ahead.fetch

    def fetch_while_someone_writes(self):
        fetch(self)
        if transactions == [CHUNK]:  # the gap after the first block: another organisation's write
            with db.engine.begin() as connection:
                connection.execute(text("UPDATE organizations SET name = 'Walk-in shop' WHERE id = :id"),
                                   {"id": other.organization_id})

    monkeypatch.setattr(contacts_csv._Ahead, "fetch", fetch_while_someone_writes)
    report = import_csv(team["admin"], csv_body(*generated_lines(CHUNK + 600))).json
    assert report["imported"] == CHUNK + 600
    assert transactions == [CHUNK, contacts_csv.TRANSACTION_MIN, contacts_csv.TRANSACTION_MIN,
                            600 - 2 * contacts_csv.TRANSACTION_MIN]
