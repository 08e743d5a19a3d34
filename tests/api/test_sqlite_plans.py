"""SQLite plans the look-ups of caller ID, ringing and authentication on the
right index with no statistics (a fresh file), with those of a small
organisation (taken at 1,000 rows, then it grew) or of a large one; the
statistics of almost empty tables, which make SQLite scan them, are dropped
when the service starts; and it keeps its statistics current (issue 16).

The statements checked are the ones the service runs: they are recorded while
requests are served, then each is planned (EXPLAIN QUERY PLAN) on a new
connection, which reads the statistics of the moment."""
import sqlite3
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from mobile_sync.store.statistics import EVERY_S, MIN_ROWS, refresh_now_and_then, refresh_statistics
from tests.conftest import PASSWORD, build_test_app

pytestmark = pytest.mark.usefixtures("sqlite_only")

NUMBER = "+919876543210"
# Every way a look-up may reach a table: (table, "USING ..." as SQLite prints it).
# Anything else (a SCAN, a SEARCH on the organisation alone) fails.
ALLOWED = {
    "record_phones": {"COVERING INDEX ix_record_phones_org_e164_record (organization_id=? AND e164=?)",
                      "INDEX ix_record_phones_org_suffix (organization_id=? AND suffix=?)"},
    "phonebook_numbers": {"INDEX ix_phonebook_numbers_user_hash (user_id=? AND number_hash=?)"},
    "access_tokens": {"INDEX sqlite_autoindex_access_tokens_1 (token_hash=?)"},
    "api_keys": {"INDEX sqlite_autoindex_api_keys_1 (key_hash=?)"},
    "devices": {"INDEX ix_devices_user_id (user_id=?)"},
    "users": {"INDEX ix_users_organization_id (organization_id=?)"},
}
# A PBX's ring finds whose line was dialled among the organisation's users:
# no index holds their phone (a few hundred users at most), so any plan reads them all.
ORGANISATION_USERS = "users.organization_id = ? AND users.phone = ?"
PRIMARY_KEY = "INTEGER PRIMARY KEY (rowid=?)"


@pytest.fixture(scope="module")
def sqlite_only(request):
    if request.config.getoption("--db") != "sqlite":
        pytest.skip("SQLite's query planner and statistics: PostgreSQL plans with its own (autovacuum's)")


@pytest.fixture
def fresh(tmp_path):
    """A migrated SQLite file no ANALYZE has run on, and its app."""
    path = tmp_path / "plans.db"
    app = build_test_app(f"sqlite:///{path}", str(tmp_path / "data"))
    return app, path


def _rows_in_statistics(path, table: str) -> int:
    return max(int(stat.split()[0]) for name, _, stat in _stats(path) if name == table)


def _stats(path) -> list:
    with sqlite3.connect(path) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            return []
        return connection.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall()


@contextmanager
def recorded(app):
    """The SELECT statements (text, parameters) the app sends while inside."""
    from server.extensions import db

    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _serve_lookups(app) -> list:
    """An organisation with a contact, a colleague with a phone, a rep's phone
    and an API key; then the requests of the paths checked: caller ID (a hit,
    a miss), a ring from the phone, a ring from a PBX, an authenticated no-op.
    Returns the SELECT statements they ran."""
    from mobile_sync.phone_index import parse_phones, set_record_phones
    from server.clock import now
    from server.extensions import db
    from mobile_sync.store.models import Contact

    client = app.test_client()
    signup = client.post("/api/v1/signup", json={"organization": "Plans", "region": "IN", "name": "Admin",
                                                 "email": "plans@example.test", "password": PASSWORD}).json
    admin = {"Authorization": f"Bearer {signup['token']}"}
    assert client.patch("/api/v1/me", headers=admin, json={"phone": "+91 80 4000 1234"}).status_code == 200
    device = client.post("/api/v1/devices", headers=admin, json={
        "platform": "android", "model": "Pixel 8", "os_version": "14", "app_version": "1.0.0",
        "fcm_token": "plans-token"}).json
    phone = {"Authorization": f"Bearer {device['device_token']}"}
    key = client.post("/api/v1/api-keys", headers=admin, json={"name": "PBX"}).json["key"]
    with app.test_request_context():
        contact = Contact(organization_id=signup["organization_id"], name="Asha Rao", company="Rao Traders")
        db.session.add(contact)
        db.session.flush()
        set_record_phones(db.session, organization_id=contact.organization_id, record_type="contact",
                          record_id=contact.id, numbers=parse_phones([NUMBER], "IN"), now=now())
        db.session.commit()

    with recorded(app) as statements:
        hit = client.get("/api/v1/caller-id", query_string={"number": "098765 43210"}, headers=phone)
        assert hit.status_code == 200 and hit.json["match"]["name"] == "Asha Rao"
        miss = client.get("/api/v1/caller-id", query_string={"number": "+91 90000 00000"}, headers=phone)
        assert miss.status_code == 200 and miss.json["match"] is None
        assert client.post("/api/v1/calls/ringing", headers=phone, json={"number": NUMBER}).status_code == 202
        assert client.post("/api/v1/telephony/ringing", headers={"Authorization": f"Bearer {key}"},
                           json={"from": NUMBER, "to": "08040001234"}).status_code == 202
        assert client.get("/api/v1/ping", headers=admin).status_code == 200
    return statements


def _plans(path, statements) -> list[tuple[str, list[str]]]:
    connection = sqlite3.connect(path)
    try:
        return [(statement, [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)])
                for statement, parameters in statements]
    finally:
        connection.close()


def _wrong_accesses(plans) -> list[str]:
    """Each plan line that reaches a checked table otherwise than ALLOWED."""
    wrong = []
    for statement, lines in plans:
        for line in lines:
            verb, _, rest = line.partition(" ")
            table, _, how = rest.partition(" ")
            if verb not in ("SCAN", "SEARCH") or table not in ALLOWED and table not in ("contacts", "leads"):
                continue
            how = how.removeprefix("USING ").removesuffix(" LEFT-JOIN")
            if table == "users" and ORGANISATION_USERS in statement:
                continue
            if verb == "SCAN" or (how != PRIMARY_KEY and how not in ALLOWED.get(table, ())):
                wrong.append(f"{line}\n    in {' '.join(statement.split())[:150]}")
    return wrong


def _used(plans) -> set[str]:
    return {line for _, lines in plans for line in lines}


def _assert_planned_on_the_right_indexes(path, statements) -> None:
    plans = _plans(path, statements)
    assert not _wrong_accesses(plans), "\n".join(_wrong_accesses(plans))
    used = " | ".join(_used(plans))
    for expected in ("ix_record_phones_org_e164_record", "ix_record_phones_org_suffix",
                     "ix_phonebook_numbers_user_hash", "sqlite_autoindex_access_tokens_1", "ix_devices_user_id"):
        assert expected in used, f"{expected} not among the plans: the statements checked changed"


def _analyse_as_if(path, rows: int) -> None:
    """Statistics as ANALYZE writes them for tables of `rows` rows, all of one
    organisation: from ANALYZE of this (almost empty) file, the row counts and
    the rows per organisation scaled up to `rows`, the other figures kept."""
    with sqlite3.connect(path) as connection:
        connection.execute("ANALYZE")
        for table, index, stat in connection.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall():
            total, *per_prefix = stat.split()
            first = connection.execute(f'PRAGMA index_info("{index}")').fetchone()[2] if index else None
            if first == "organization_id":
                per_prefix[0] = str(rows)
            connection.execute("UPDATE sqlite_stat1 SET stat = ? WHERE tbl = ? AND idx IS ?",
                               (" ".join([str(rows), *per_prefix]), table, index))


def _add_numbers(path, count: int) -> None:
    """`count` more numbers in the phone index, of the organisation already there."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO record_phones (organization_id, record_type, record_id, e164, suffix) "
            "SELECT (SELECT max(organization_id) FROM record_phones), 'contact', "
            "(SELECT max(record_id) FROM record_phones) + i, printf('+9198%08d', i), printf('%07d', i) FROM n",
            (count,))


def test_lookups_use_their_indexes_on_a_fresh_database(fresh):
    app, path = fresh
    statements = _serve_lookups(app)
    assert _stats(path) == []
    _assert_planned_on_the_right_indexes(path, statements)


@pytest.mark.parametrize("rows", [MIN_ROWS, 1_000_000])
def test_lookups_use_their_indexes_with_statistics_of_a_small_or_a_large_organisation(fresh, rows):
    app, path = fresh
    statements = _serve_lookups(app)
    _analyse_as_if(path, rows)
    assert _rows_in_statistics(path, "record_phones") == rows
    _assert_planned_on_the_right_indexes(path, statements)


def test_statistics_of_almost_empty_tables_are_dropped_at_start_up(fresh):
    """ANALYZE of a file with a few rows makes SQLite scan those tables (right
    while they are that small, and wrong as soon as they grow): the service
    drops such statistics when it starts, and then plans on the indexes."""
    from server import create_app

    app, path = fresh
    statements = _serve_lookups(app)
    with sqlite3.connect(path) as connection:
        connection.execute("ANALYZE")
    assert _rows_in_statistics(path, "record_phones") == 2  # the contact's number and the admin's
    assert "SCAN access_tokens" in _used(_plans(path, statements))
    create_app(dict(app.config))
    assert _stats(path) == []
    _assert_planned_on_the_right_indexes(path, statements)


def test_statistics_are_taken_at_start_up(fresh):
    from server import create_app

    app, path = fresh
    _serve_lookups(app)
    _add_numbers(path, MIN_ROWS)
    assert _stats(path) == []
    create_app(dict(app.config))
    assert {table for table, _, _ in _stats(path)} == {"record_phones"}  # the others are too small
    assert _rows_in_statistics(path, "record_phones") == MIN_ROWS + 2


def test_statistics_are_taken_again_when_a_table_has_grown_tenfold(fresh):
    from server.extensions import db

    app, path = fresh
    _serve_lookups(app)
    _add_numbers(path, MIN_ROWS)
    with app.app_context():
        assert refresh_statistics(db.engine) == ["record_phones"]
        assert refresh_statistics(db.engine) == []  # current: nothing to do
        _add_numbers(path, 9 * MIN_ROWS)
        assert refresh_statistics(db.engine) == []  # grown 9 times: still close enough
        _add_numbers(path, 2 * MIN_ROWS)
        assert refresh_statistics(db.session) == ["record_phones"]  # as the import path would call it
        db.session.commit()
    assert 10 * MIN_ROWS < _rows_in_statistics(path, "record_phones") < 15 * MIN_ROWS  # an estimate past the limit


def test_a_running_service_refreshes_its_statistics_every_ten_minutes_from_processing(fresh):
    """An embedded service that never restarts still follows its data: each
    processing run looks at the statistics, at most once every ten minutes."""
    from server.extensions import db
    from server.jobs import process_call_uploads

    app, path = fresh
    _serve_lookups(app)
    _add_numbers(path, MIN_ROWS)
    with app.app_context():
        process_call_uploads(organization_id=1)  # a processing run with nothing to do
        assert {table for table, _, _ in _stats(path)} == {"record_phones"}
        taken = _rows_in_statistics(path, "record_phones")
        _add_numbers(path, 10 * MIN_ROWS)
        process_call_uploads(organization_id=1)  # moments later: not looked at again
        assert _rows_in_statistics(path, "record_phones") == taken
        later = time.monotonic() + EVERY_S + 1
        assert refresh_now_and_then(db.engine, clock=lambda: later) == ["record_phones"]
        assert refresh_now_and_then(db.engine, clock=lambda: later + 1) is None
    assert _rows_in_statistics(path, "record_phones") > 10 * MIN_ROWS


def test_statistics_are_left_alone_on_postgresql():
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connects
    assert refresh_statistics(engine) == []


# What a search (issue 18) may reach besides the look-ups' indexes: the prefix
# indexes, the indexes of a list's orders, a page's numbers by record.
SEARCH_ALLOWED = {
    table: {f"INDEX ix_{table}_{column}_prefix (organization_id=? AND <expr>>? AND <expr><?)"
            for column in ("name", "company", "email")}
    | {f"INDEX ix_{table}_org_last_call (organization_id=? AND last_call_at>?)",
       f"INDEX ix_{table}_org_last_call (organization_id=? AND last_call_at=?)",
       f"INDEX ix_{table}_org_last_call (organization_id=?)",
       f"INDEX ix_{table}_organization_id (organization_id=? AND rowid=?)"}  # by id, as the primary key
    for table in ("contacts", "leads")
}
SEARCH_ALLOWED["contacts"] |= {"INDEX ix_contacts_org_created (organization_id=?)",
                               "INDEX ix_contacts_name_prefix (organization_id=?)"}
SEARCH_ALLOWED["record_phones"] = ALLOWED["record_phones"] | {
    "INDEX sqlite_autoindex_record_phones_1 (organization_id=? AND record_type=? AND record_id=?)"}
SEARCHES = [{"q": "asha"}, {"q": "rao tr"}, {"q": "098765 43210"}, {"q": "543210"}, {"q": "+91 98765 43210"},
            {"q": "asha", "sort": "created"}, {"q": "rao", "sort": "name"}, {"q": "asha", "sort": "last_call"},
            {"sort": "name"}, {"sort": "last_call"}, {}]
# The leads' list also counts every match per status, under the same filters.
LEAD_SEARCHES = [{"q": "asha"}, {"q": "rao tr"}, {"q": "543211"}, {"q": "+91 99765 43211"}]


def _serve_searches(app, monkeypatch) -> list:
    """The look-ups' organisation, then its contacts searched in each way and
    order, and its leads by text and number; each prefix once as few matches
    and once as many (read by walking the index of the list's order). Returns
    the SELECT statements they ran."""
    _serve_lookups(app)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"email": "plans@example.test", "password": PASSWORD}).json
    admin = {"Authorization": f"Bearer {token['token']}"}
    another = client.post("/api/v1/contacts", headers=admin, json={"name": "Zed Kumar", "phones": ["+91 99765 43210"]})
    assert another.status_code == 201, another.json  # "543210" finds two: a list of ids, not one
    lead = client.post("/api/v1/leads", headers=admin, json={"name": "Asha Lead", "company": "Rao Traders",
                                                             "phone": "+91 99765 43211"})
    assert lead.status_code == 201, lead.json
    with recorded(app) as statements:
        for broad_from in (1000, 1):
            monkeypatch.setattr("mobile_sync.record_pages.MAX_MATCHED_RECORDS", broad_from)
            for query in SEARCHES:
                found = client.get("/api/v1/contacts", query_string=query, headers=admin)
                assert found.status_code == 200 and found.json["items"], (query, found.json)
            for query in LEAD_SEARCHES:
                found = client.get("/api/v1/leads", query_string=query, headers=admin)
                assert found.status_code == 200 and found.json["items"], (query, found.json)
                assert sum(found.json["counts"].values()) == 1, (query, found.json["counts"])
    return statements


def _index(how: str) -> str:
    """An access as SQLite prints it, covering or not."""
    return how.removeprefix("USING ").replace("COVERING INDEX", "INDEX")


def _assert_searches_planned_on_their_indexes(path, statements) -> None:
    wrong = []
    for statement, lines in _plans(path, statements):
        for line in lines:
            verb, _, rest = line.partition(" ")
            table, _, how = rest.partition(" ")
            allowed = {_index(access) for access in SEARCH_ALLOWED.get(table, ())} | {PRIMARY_KEY}
            walks = "_org_" in how or "_name_prefix (organization_id=?)" in how  # an order's index, from its start
            if table in SEARCH_ALLOWED and (verb == "SCAN" or verb == "SEARCH" and _index(how) not in allowed
                                            or walks and f"{table}.id IN" in statement):  # a few rows by id: sorted
                wrong.append(f"{line}\n    in {' '.join(statement.split())[-250:]}")
    assert not wrong, "\n".join(wrong)


def test_searches_use_their_indexes_on_a_fresh_database(fresh, monkeypatch):
    app, path = fresh
    statements = _serve_searches(app, monkeypatch)
    assert _stats(path) == []
    _assert_searches_planned_on_their_indexes(path, statements)


@pytest.mark.parametrize("rows", [MIN_ROWS, 1_000_000])
def test_searches_use_their_indexes_with_statistics_of_a_small_or_a_large_organisation(fresh, monkeypatch, rows):
    app, path = fresh
    statements = _serve_searches(app, monkeypatch)
    _analyse_as_if(path, rows)
    _assert_searches_planned_on_their_indexes(path, statements)
