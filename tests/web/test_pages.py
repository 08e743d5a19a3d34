"""The manager's pages through the Flask test client: the queue's filters,
every review action, the lead page, tenant isolation and escaping."""
from __future__ import annotations

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row
from tests.web.conftest import post_action, sign_in, upload_calls
from tests.web.queue_data import ASHA, api_lead, lead_ids, rows_on


# --- the queue and its filters ----------------------------------------------

def test_rows_show_name_formatted_phone_source_owner_created_and_calls(client, signed_in):
    _, ids = signed_in
    html = client.get("/review").get_data(as_text=True)
    row = html.split(f'id="lead-{ids["asha"]}"')[1].split("</tr>")[0]
    assert "Asha Rao" in row and "+91 98765 43210" in row and "phone_call" in row and "Ravi Rep" in row
    assert "19 Nov 2026, 14:30" in row  # 09:00 UTC, in the IN organisation's zone (Asia/Kolkata)
    assert '<td data-label="Calls" class="num">2</td>' in row


def test_filters_by_status_owner_source_and_date(client, clean_app, signed_in):
    (admin, _, ravi, sita), ids = signed_in
    assert admin.post(f"/api/v1/leads/{ids['kiran']}/approve").status_code == 200
    assert admin.patch(f"/api/v1/leads/{ids['new']}", json={"source": "Expo 2026"}).status_code == 200

    def shown(query):
        response = client.get("/review" + query)
        assert response.status_code == 200
        return set(rows_on(response.get_data(as_text=True)))

    assert shown("") == {ids["asha"], ids["new"]}  # pending review by default
    assert shown("?status=approved") == {ids["kiran"]}
    assert shown("?status=all") == set(ids.values())
    assert shown(f"?status=all&owner_id={ravi.user_id}") == {ids["asha"], ids["kiran"]}
    assert shown(f"?owner_id={sita.user_id}") == {ids["new"]}
    assert shown("?status=all&source=Expo+2026") == {ids["new"]}
    assert shown("?status=all&since=2026-11-20") == {ids["kiran"], ids["new"]}
    assert shown("?status=all&since=2026-11-21") == set()
    # The form keeps what was chosen.
    html = client.get(f"/review?status=approved&owner_id={ravi.user_id}&since=2026-11-20").get_data(as_text=True)
    assert '<option value="approved" selected>' in html
    assert f'<option value="{ravi.user_id}" selected>' in html and 'value="2026-11-20"' in html


def test_the_created_since_date_is_read_in_the_organisations_time_zone(client, signed_in):
    (admin, _, _, _), ids = signed_in
    # Kiran's lead was made at 09:00 UTC on 20 Nov, which is 20 Nov in Kolkata but Asha's
    # (09:00 UTC on 19 Nov) is not; in Auckland (UTC+13) 20 Nov begins at 11:00 UTC on the 19th.
    assert admin.patch("/api/v1/settings", json={"timezone": "Pacific/Auckland"}).status_code == 200
    html = client.get("/review?status=all&since=2026-11-20").get_data(as_text=True)
    assert set(rows_on(html)) == {ids["kiran"], ids["new"]}
    html = client.get("/review?status=all&since=2026-11-19").get_data(as_text=True)
    assert set(rows_on(html)) == set(ids.values())
    assert "19 Nov 2026, 22:00" in html  # Asha's 09:00 UTC, shown in Auckland time


def test_a_filter_that_is_not_understood_is_dropped_with_a_notice(client, signed_in):
    _, ids = signed_in
    response = client.get("/review?status=bogus&since=yesterday&owner_id=x")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Ignored a filter" in html
    assert set(rows_on(html)) == {ids["asha"], ids["kiran"], ids["new"]}


def test_the_queue_pages_by_fifty(client, page_team):
    admin, manager, ravi, _ = page_team
    upload_calls(ravi, [call_row(i, f"+91 90000 {10000 + i}") for i in range(1, 53)])
    sign_in(client, manager.email)
    first = client.get("/review?owner_id=%d" % ravi.user_id).get_data(as_text=True)
    assert len(rows_on(first)) == 50
    assert f'href="/review?page=2&amp;owner_id={ravi.user_id}"' in first and "Newer" not in first
    second = client.get(f"/review?page=2&owner_id={ravi.user_id}").get_data(as_text=True)
    assert len(rows_on(second)) == 2 and "Newer" in second and "Older" not in second
    assert not set(rows_on(first)) & set(rows_on(second))


# --- the actions ------------------------------------------------------------

def test_approve_from_the_queue(client, signed_in):
    (admin, _, _, _), ids = signed_in
    response = post_action(client, f"/leads/{ids['asha']}/approve")
    assert response.status_code == 302 and response.headers["Location"] == "/review"
    html = client.get("/review").get_data(as_text=True)
    assert f"Lead #{ids['asha']} approved." in html
    assert ids["asha"] not in rows_on(html)  # left the pending queue
    assert api_lead(admin, ids["asha"])["status"] == "approved"


def test_reject_as_spam_from_the_queue(client, signed_in):
    (admin, _, _, _), ids = signed_in
    response = post_action(client, f"/leads/{ids['asha']}/reject", reason="spam")
    assert response.status_code == 302
    assert f"Lead #{ids['asha']} rejected (spam)." in client.get("/review").get_data(as_text=True)
    lead = api_lead(admin, ids["asha"])
    assert (lead["status"], lead["reject_reason"]) == ("rejected", "spam")
    html = client.get("/review?status=rejected").get_data(as_text=True)
    assert rows_on(html) == [ids["asha"]] and "(spam)" in html


def test_reject_needs_a_known_reason(client, signed_in):
    (admin, _, _, _), ids = signed_in
    post_action(client, f"/leads/{ids['asha']}/reject", reason="boring")
    assert "please check reason" in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["status"] == "pending_review"


def test_merge_into_a_contact_moves_the_calls(client, clean_app, signed_in):
    (admin, _, _, _), ids = signed_in
    contact_id = add_contact(clean_app, admin.organization_id, "Asha Rao (customer)", "+91 99999 00000")
    response = post_action(client, f"/leads/{ids['asha']}/merge", into_type="contact", into_id=str(contact_id))
    assert response.status_code == 302
    html = client.get("/review?status=merged").get_data(as_text=True)
    assert f"Lead #{ids['asha']} merged into contact #{contact_id}." in html
    assert f"Merged into contact #{contact_id}" in html
    lead = api_lead(admin, ids["asha"])
    assert (lead["status"], lead["merged_into_type"], lead["merged_into_id"]) == ("merged", "contact", contact_id)
    assert lead["calls"] == []
    caller = admin.get("/api/v1/caller-id", query_string={"number": ASHA}).json
    assert (caller["match"]["record_type"], caller["match"]["record_id"]) == ("contact", contact_id)


def test_merge_into_another_lead(client, signed_in):
    (admin, _, _, _), ids = signed_in
    post_action(client, f"/leads/{ids['asha']}/merge", into_type="lead", into_id=str(ids["kiran"]))
    assert api_lead(admin, ids["asha"])["status"] == "merged"
    target = api_lead(admin, ids["kiran"])
    assert target["calls_count"] == 3 and len(target["calls"]) == 3


def test_merge_into_a_record_that_does_not_exist_says_so_and_changes_nothing(client, signed_in):
    (admin, _, _, _), ids = signed_in
    response = post_action(client, f"/leads/{ids['asha']}/merge", into_type="contact", into_id="999999")
    assert response.status_code == 302
    assert f"Lead #{ids['asha']}: No such contact." in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["status"] == "pending_review"


def test_reassign_to_another_rep(client, signed_in):
    (admin, _, _, sita), ids = signed_in
    post_action(client, f"/leads/{ids['asha']}/assign", user_id=str(sita.user_id))
    assert f"Lead #{ids['asha']} reassigned." in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["owner_id"] == sita.user_id
    html = client.get(f"/review?owner_id={sita.user_id}").get_data(as_text=True)
    assert ids["asha"] in rows_on(html)


def test_reassign_to_someone_of_another_organisation_is_refused(client, make_org, signed_in):
    (admin, _, _, _), ids = signed_in
    outsider = make_org()
    post_action(client, f"/leads/{ids['asha']}/assign", user_id=str(outsider.user_id))
    assert f"Lead #{ids['asha']}: No such user in your organisation." in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["owner_id"] != outsider.user_id


def test_the_lead_page_shows_calls_and_notes_and_takes_a_note(client, signed_in):
    (admin, _, _, _), ids = signed_in
    path = f"/leads/{ids['asha']}"
    html = client.get(path).get_data(as_text=True)
    assert "Asha Rao" in html and "+91 98765 43210" in html
    assert "incoming" in html and "missed" in html and "1:15" in html and "lead created" in html
    assert "No notes yet." in html
    response = post_action(client, f"{path}/notes", back=path, text="Wants a quote for 40 units")
    assert response.status_code == 302 and response.headers["Location"] == path
    html = client.get(path).get_data(as_text=True)
    assert "Wants a quote for 40 units" in html and "Meera Manager" in html
    assert [n["text"] for n in api_lead(admin, ids["asha"])["notes"]] == ["Wants a quote for 40 units"]


def test_actions_on_the_lead_page_come_back_to_it(client, signed_in):
    (admin, _, _, _), ids = signed_in
    path = f"/leads/{ids['kiran']}"
    assert post_action(client, f"{path}/approve", back=path).headers["Location"] == path
    html = client.get(path).get_data(as_text=True)
    assert f"Lead #{ids['kiran']} approved." in html and 'data-status="approved"' in html


def test_an_empty_note_is_not_added(client, signed_in):
    (admin, _, _, _), ids = signed_in
    path = f"/leads/{ids['asha']}"
    post_action(client, f"{path}/notes", back=path, text="   ")
    assert "please check text" in client.get(path).get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["notes"] == []


# --- tenants and escaping ---------------------------------------------------

def test_another_organisations_lead_is_a_404_page(client, make_org, make_user, make_device, signed_in):
    (admin, _, _, _), ids = signed_in
    other_admin = make_org(region="IN")
    other_rep = make_device(make_user(other_admin, name="Other Rep"))
    upload_calls(other_rep, [call_row(9, "+91 95555 55555", name="Their Customer")], batch="o1")
    theirs = other_admin.get("/api/v1/leads").json["items"][0]["id"]

    page = client.get(f"/leads/{theirs}")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "Not found" in html and "Their Customer" not in html
    assert page.mimetype == "text/html"
    for action, data in (("approve", {}), ("reject", {"reason": "spam"}), ("assign", {"user_id": "1"}),
                         ("notes", {"text": "hello"})):
        assert post_action(client, f"/leads/{theirs}/{action}", **data).status_code == 404
    assert other_admin.get(f"/api/v1/leads/{theirs}").json["status"] == "pending_review"
    assert theirs not in rows_on(client.get("/review?status=all").get_data(as_text=True))
    # Nor can one of ours be merged into theirs.
    post_action(client, f"/leads/{ids['asha']}/merge", into_type="lead", into_id=str(theirs))
    assert api_lead(admin, ids["asha"])["status"] == "pending_review"


def test_an_unknown_lead_is_a_404_page(client, signed_in):
    response = client.get("/leads/987654")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_user_text_is_escaped(client, signed_in):
    (admin, _, ravi, _), ids = signed_in
    evil = "<script>alert('x')</script>"
    upload_calls(ravi, [call_row(20, "+91 93333 33333", name=evil)], batch="evil")
    lead_id = lead_ids(client, admin)["+919333333333"]
    post_action(client, f"/leads/{lead_id}/notes", back=f"/leads/{lead_id}", text='<img src=x onerror="alert(1)">')
    for path in ("/review", f"/leads/{lead_id}"):
        html = client.get(path).get_data(as_text=True)
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
        assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in client.get(f"/leads/{lead_id}").get_data(as_text=True)



def test_push_sink_page_shows_what_would_have_been_sent(client, signed_in, make_org, make_device):
    """Without FCM credentials the new-lead pushes of the seeded calls are in the sink, shown to
    the organisation's managers, with no personal data in them."""
    page = client.get("/push-sink")
    assert page.status_code == 200
    html = page.data.decode()
    assert html.lower().count("new lead") >= 3 and "sink" in html
    assert "98765" not in html and "Asha" not in html
    stranger = make_device(make_org(region="IN"))
    stranger.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    assert client.get("/push-sink").data.decode().lower().count("ringing") == 0


def test_the_queue_downloads_what_its_filters_show_as_csv(client, signed_in):
    import csv
    import io

    html = client.get("/review?status=all&q=asha").get_data(as_text=True)
    assert 'href="/leads/export.csv?status=all&amp;q=asha"' in html
    rows = list(csv.DictReader(io.StringIO(client.get("/leads/export.csv?status=all&q=asha").get_data(as_text=True))))
    assert [row["name"] for row in rows] == ["Asha Rao"]
    assert '<a href="/calls">Calls</a>' in html
