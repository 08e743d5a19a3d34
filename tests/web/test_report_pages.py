"""The /reports page through Flask's test client: charts (SVG, no script),
a table under each, a CSV download of each; a rep gets the 403 page; bad
input is a message at the top, never a 500."""
from __future__ import annotations

import csv
import io

from tests.api.test_reports import ASHA, BALA, at, report, upload
from tests.web.test_account_pages import page_text
from tests.web.test_console_pages import signed_in

RANGE = "from=2026-11-01&to=2026-11-30"


def test_the_page_shows_a_chart_and_a_table_for_each_report(clean_app, page_team, clock):
    admin, manager, ravi, sita = page_team
    upload(ravi, (ASHA, at(20, 10), 3, 0), (BALA, at(20, 11), 2, 30), (ASHA, at(21, 9), 2, 60))
    upload(sita, (BALA, at(21, 10), 1, 45))
    response = signed_in(clean_app, manager).get(f"/reports?{RANGE}")
    assert response.status_code == 200
    page = page_text(response)
    assert page.count('<svg class="chart"') == 4 and "<script" not in page
    for heading in ("Calls per day", "Calls per rep", "Missed calls and call backs", "Leads by source"):
        assert heading in page
    assert '<th scope="row">2026-11-20</th><td>0</td><td>1</td><td>1</td>' in page
    assert '<th scope="row">Ravi Rep</th><td>0</td><td>2</td><td>1</td><td>0</td><td>2</td><td>0:01</td><td>2</td>' in page
    assert '<th scope="row">Ravi Rep</th><td>1</td><td>1</td><td>0</td><td>23 h 0 min</td>' in page
    assert page.count("Download CSV") == 4
    assert '<a href="/reports">Reports</a>' in page


def test_each_table_downloads_as_csv_for_the_same_range_and_people(clean_app, page_team):
    admin, manager, ravi, sita = page_team
    upload(ravi, (ASHA, at(20, 10), 2, 30))
    upload(sita, (BALA, at(20, 10), 2, 30))
    browser = signed_in(clean_app, admin)
    response = browser.get(f"/reports/calls-by-rep.csv?{RANGE}&user_id={sita.user_id}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["user_id"], r["outgoing"], r["unique_numbers"]) for r in rows] == [(str(sita.user_id), "1", "1")]
    for kind in ("calls-by-day", "missed", "leads"):
        assert browser.get(f"/reports/{kind}.csv?{RANGE}").status_code == 200
    assert browser.get(f"/reports/nothing.csv?{RANGE}").status_code == 404


def test_a_rep_is_refused_the_page(clean_app, page_team):
    """Reps cannot sign in to the pages at all; were one's session to reach
    /reports, the page's own check answers 403 (checked on the view)."""
    from flask import g

    from mobile_sync.errors import ServiceError
    from mobile_sync.store.models import User
    from server.extensions import db
    from server.web import report_pages

    ravi = page_team[2]
    browser = clean_app.test_client()
    from tests.web.conftest import sign_in
    assert sign_in(browser, ravi.email).status_code == 403
    with clean_app.test_request_context("/reports"):
        g.web_user = db.session.get(User, ravi.user_id)
        try:
            report_pages.reports_page()
        except ServiceError as err:
            assert err.status == 403 and "managers and admins" in err.message
        else:
            raise AssertionError("a rep was shown the reports page")


def test_bad_input_is_said_at_the_top(clean_app, page_team):
    manager = page_team[1]
    browser = signed_in(clean_app, manager)
    response = browser.get("/reports?from=2026-11-30&to=2026-11-01")
    assert response.status_code == 422 and "before `from`" in page_text(response)
    response = browser.get("/reports?from=2026-02-30&to=2026-03-01")
    assert response.status_code == 422 and "not a day of the calendar" in page_text(response)
    response = browser.get("/reports?from=2022-01-01&to=2026-03-01")
    assert response.status_code == 422 and "at most 2 years" in page_text(response)


def test_another_organisations_user_is_a_404_page(clean_app, page_team, make_org, make_user):
    other = make_user(make_org(region="IN"))
    response = signed_in(clean_app, page_team[0]).get(f"/reports?{RANGE}&user_id={other.user_id}")
    assert response.status_code == 404


def test_the_hours_pages_rebuild_the_office_hours_share(clean_app, page_team):
    from tests.web.test_work_hours_pages import WEEKDAYS, post

    admin, manager, ravi, sita = page_team
    # Friday 20 November 2026: 10:00 IST is 08:30 in Dubai, 12:00 IST is 10:30 in Dubai.
    upload(ravi, (ASHA, at(20, 10), 2, 30), (ASHA, at(20, 12), 2, 30))

    def share():
        item = report(manager, "calls", group="user", user_id=ravi.user_id).json["items"][0]
        return item["office_hours_calls"], item["in_office_hours"]

    assert share() == (0, 0)
    browser = signed_in(clean_app, admin)  # hours read in the organisation's zone: both calls inside
    assert post(browser, f"/team/users/{ravi.user_id}/hours", timezone="", **WEEKDAYS).status_code == 302
    assert share() == (2, 2)
    # A zone of their own: 08:30 in Dubai is outside.
    assert post(browser, f"/team/users/{ravi.user_id}/hours", timezone="Asia/Dubai", **WEEKDAYS).status_code == 302
    assert share() == (2, 1)
