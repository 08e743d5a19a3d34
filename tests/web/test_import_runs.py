"""Contact imports in the background (issue 18): "Import" on the import page
keeps the file in the database, queues the job (in process here: no Redis)
and sends the browser to the import's page, which shows its state, the bytes
read of the total, the counts and the first errors by line, and refreshes
itself while the import runs. One import per organisation at a time (two
started at once: one is refused), another organisation's import is 404 on
the page and the API, a file refused by the job stores nothing, and the file
is deleted when the import ends."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from mobile_sync import contact_imports
from mobile_sync.errors import ServiceError
from mobile_sync.store.models import Contact, ContactImportChunk, ContactImportRun
from tests.api.test_races import race
from tests.web.conftest import csrf_of
from tests.web.test_account_pages import page_text
from tests.web.test_console_pages import signed_in
from tests.web.test_contact_pages import add_contact, fixture, form_fields, upload



def _count(app, model, *where):
    from server.extensions import db

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _start(app, actor, data: bytes, name="contacts.csv"):
    """A queued run of `data`, as the import page leaves it (the job not run)."""
    import io

    from server.clock import now
    from server.extensions import db

    with app.app_context():
        run_id = contact_imports.start_import(db.session, org_id=actor.organization_id, user_id=actor.user_id,
                                              owner_id=actor.user_id, region="IN", stream=io.BytesIO(data),
                                              filename=name, mapping=None, now=now())
        db.session.commit()
        return run_id


def _run(app, actor, run_id, commit_hook=None):
    from server.clock import now
    from server.extensions import db

    def commit():
        db.session.commit()
        if commit_hook:
            commit_hook()

    with app.app_context():
        return contact_imports.run_import(db.session, actor.organization_id, run_id, hash_key=app.config["HASH_KEY"],
                                          clock=now, commit=commit)


def test_import_from_the_page_lands_on_its_page_with_counts_and_errors(clean_app, page_team, make_org):
    admin, manager = page_team[:2]
    add_contact(admin, "Asha Rao", "+91 98765 43210")
    browser = signed_in(clean_app, manager)
    page = upload(browser, "google.csv", fixture("google_contacts.csv")).get_data(as_text=True)
    action, fields = form_fields(page)
    done = browser.post(action, data={"csrf_token": csrf_of(browser, "/contacts"), "action": "import", **fields})
    assert done.status_code == 303
    location = done.headers["Location"]
    run_id = int(re.search(r"/contacts/imports/(\d+)$", location).group(1))
    shown = browser.get(location)
    text, html = page_text(shown), shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Imported google.csv" in text
    assert "Refresh" not in shown.headers and 'http-equiv="refresh"' not in html  # done: no more refreshing
    assert re.search(r'class="imported">2<', html) and re.search(r'class="merged">1<', html)
    assert re.search(r'class="errors">1<', html) and '<td data-label="Line" class="num">5</td>' in html
    assert re.search(r'<progress id="import-progress" max="(\d+)" value="\1"', html)  # the whole file read
    assert _count(clean_app, ContactImportChunk) == 0  # the file went with the import
    # The list of recent imports names it, on the upload page too.
    assert f'href="/contacts/imports/{run_id}"' in browser.get("/contacts/import").get_data(as_text=True)
    api = admin.get(f"/api/v1/contacts/imports/{run_id}").json
    assert (api["state"], api["imported"], api["merged"], api["failed"]) == ("done", 2, 1, 1)
    assert api["bytes_read"] == api["bytes_total"] > 0 and api["errors"][0]["line"] == 5
    # Another organisation's manager: 404 on the page and the API.
    other = make_org(region="IN")
    assert signed_in(clean_app, other).get(location).status_code == 404
    assert other.get(f"/api/v1/contacts/imports/{run_id}").status_code == 404
    assert page_team[2].get(f"/api/v1/contacts/imports/{run_id}").status_code == 403  # a rep
    # The list of imports: this one, newest first; none of it for the other organisation.
    listed = admin.get("/api/v1/contacts/imports", query_string={"limit": 1}).json
    assert [i["id"] for i in listed["items"]] == [run_id] and listed["items"][0]["state"] == "done"
    assert other.get("/api/v1/contacts/imports").json == {"items": [], "next_page": None}
    assert admin.get("/api/v1/contacts/imports", query_string={"state": "done"}).status_code == 422


def test_a_running_import_shows_its_progress_and_refreshes(clean_app, page_team, monkeypatch):
    from mobile_sync import contact_csv_file

    admin, manager = page_team[:2]
    monkeypatch.setattr(contact_csv_file, "CHUNK", 10)  # blocks of 10 lines: progress after each
    monkeypatch.setattr(contact_csv_file, "PIECE", 128)  # read 128 bytes at a time
    monkeypatch.setattr(contact_imports, "CHUNK_BYTES", 256)  # the file in many pieces
    lines = [f"Person {i},,,,98{i:08d}" for i in range(40)]
    data = ("name,company,email,source,phones\n" + "\n".join(lines) + "\n").encode()
    run_id = _start(clean_app, manager, data)
    browser = signed_in(clean_app, manager)
    queued = browser.get(f"/contacts/imports/{run_id}")
    assert "Waiting for a worker" in page_text(queued) and queued.headers["Refresh"] == "2"
    assert 'http-equiv="refresh"' in queued.get_data(as_text=True)
    seen = []

    def look():
        shown = browser.get(f"/contacts/imports/{run_id}")
        html = shown.get_data(as_text=True)
        value = int(re.search(r'<progress id="import-progress" max="\d+" value="(\d+)"', html).group(1))
        imported = int(re.search(r'class="imported">(\d+)<', html).group(1))
        seen.append((re.search(r'data-state="(\w+)"', html).group(1), value, imported, "Refresh" in shown.headers))

    assert _run(clean_app, manager, run_id, commit_hook=look) == "done"
    running = [s for s in seen if s[0] == "running"]
    assert len({s[1] for s in running}) >= 3, seen  # the bar moved
    assert [s[2] for s in running] == sorted(s[2] for s in running) and any(0 < s[2] < 40 for s in running)
    assert all(s[3] for s in running)
    final = admin.get(f"/api/v1/contacts/imports/{run_id}").json
    assert (final["state"], final["imported"], final["bytes_read"]) == ("done", 40, len(data))
    assert _run(clean_app, manager, run_id) is None  # the job run twice: nothing more
    assert _count(clean_app, Contact, Contact.organization_id == manager.organization_id) == 40


def test_a_file_the_job_refuses_stores_nothing_and_says_why(clean_app, page_team):
    admin, manager = page_team[:2]
    run_id = _start(clean_app, manager, bytes(range(256)) * 40, name="junk.bin")
    assert _run(clean_app, manager, run_id) == "failed"
    run = admin.get(f"/api/v1/contacts/imports/{run_id}").json
    assert run["state"] == "failed" and run["message"] and run["imported"] == 0
    assert _count(clean_app, Contact) == 0 and _count(clean_app, ContactImportChunk) == 0
    page = signed_in(clean_app, manager).get(f"/contacts/imports/{run_id}")
    assert "Import stopped" in page_text(page) and run["message"][:30] in page_text(page)


def test_one_import_per_organisation_at_a_time_even_when_started_together(clean_app, page_team, make_org):
    manager = page_team[1]
    data = b"name,company,email,source,phones\nAsha,,,,9876543210\n"
    for trial in range(5):
        results = race(*[lambda: _try_start(clean_app, manager, data) for _ in range(3)])
        assert sorted(results) == ["ok", "refused", "refused"], (trial, results)
        active = _count(clean_app, ContactImportRun, ContactImportRun.running_for.is_not(None))
        assert active == 1
        assert _run(clean_app, manager, _latest(clean_app)) == "done"
    # Another organisation is not held up by this one's import.
    _start(clean_app, manager, data)
    _start(clean_app, make_org(region="IN"), data)
    # On the page, the second import is said on the dry run, not a 500.
    browser = signed_in(clean_app, manager)
    page = upload(browser, "more.csv", data).get_data(as_text=True)
    action, fields = form_fields(page)
    refused = browser.post(action, data={"csrf_token": csrf_of(browser, "/contacts"), "action": "import", **fields})
    assert refused.status_code == 409 and "An import of this organisation is running" in page_text(refused)


def test_a_run_whose_worker_was_lost_blocks_nobody_and_old_files_go(clean_app, page_team):
    from server.clock import now
    from server.extensions import db

    manager = page_team[1]
    data = b"name,company,email,source,phones\nAsha,,,,9876543210\n"
    stuck = _start(clean_app, manager, data)
    with clean_app.app_context():
        db.session.execute(ContactImportRun.__table__.update().values(
            state="running", updated_at=now() - timedelta(hours=1), created_at=now() - timedelta(days=2)))
        db.session.commit()
    fresh = _start(clean_app, manager, data)
    admin = page_team[0]
    assert admin.get(f"/api/v1/contacts/imports/{stuck}").json["state"] == "failed"
    assert _count(clean_app, ContactImportChunk, ContactImportChunk.run_id == stuck) == 0
    assert _run(clean_app, manager, fresh) == "done"


def _try_start(app, actor, data):
    try:
        _start(app, actor, data)
        return "ok"
    except ServiceError as err:
        assert err.status == 409
        return "refused"


def _latest(app):
    from server.extensions import db

    with app.app_context():
        return db.session.execute(select(func.max(ContactImportRun.id))).scalar_one()


def test_an_import_that_cannot_be_queued_fails_at_once_and_blocks_nobody(clean_app, page_team, monkeypatch):
    from server.web import import_pages

    manager = page_team[1]
    queued = []
    monkeypatch.setattr(import_pages, "enqueue", lambda func, *args, **options: queued.append(options) and False)
    browser = signed_in(clean_app, manager)
    data = b"name,company,email,source,phones\nAsha,,,,9876543210\n"
    action, fields = form_fields(upload(browser, "a.csv", data).get_data(as_text=True))
    done = browser.post(action, data={"csrf_token": csrf_of(browser, "/contacts"), "action": "import", **fields},
                        follow_redirects=True)
    assert "Import stopped" in page_text(done) and "could not be queued" in page_text(done)
    assert queued == [{"job_timeout": import_pages.IMPORT_JOB_TIMEOUT_S}]
    assert _count(clean_app, ContactImportChunk) == 0
    monkeypatch.undo()
    assert _run(clean_app, manager, _start(clean_app, manager, data)) == "done"
