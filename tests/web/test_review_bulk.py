"""The review queue's bulk actions (ticked rows, the whole page, or every lead
matching the filters up to the API's bulk limit) with a result per row, and
the merge-target picker: type a name or a number, see the candidates with
their numbers, pick one."""
from __future__ import annotations

import re

import pytest

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row
from tests.web.conftest import csrf_of, sign_in, upload_calls
from tests.web.queue_data import api_lead, rows_on

ASHA, KIRAN, DEV, NISHA = "+91 98765 43210", "+91 91234 56789", "+91 90000 22222", "+91 90000 33333"


@pytest.fixture
def queue(client, clean_app, page_team):
    """Four pending leads (three from Ravi's phone, one from Sita's) and a CRM contact."""
    admin, manager, ravi, sita = page_team
    upload_calls(ravi, [call_row(1, ASHA, name="Asha Rao"), call_row(2, KIRAN, name="Kiran Kumar"),
                        call_row(3, DEV, name="Dev Patel")])
    upload_calls(sita, [call_row(4, NISHA, name="Nisha Shah")], batch="s1")
    ids = {item["name"]: item["id"] for item in admin.get("/api/v1/leads").json["items"]}
    contact = add_contact(clean_app, admin.organization_id, "Asha Rao (Rao Traders)", "+91 80 4000 1234",
                          "+91 99000 12345", company="Rao Traders")
    assert sign_in(client, manager.email).status_code == 302
    return page_team, ids, contact


def bulk(client, query: str = "", html: str | None = None, **data):
    """Post the queue's bulk form as the page at /review{query} renders it (or `html`), with `data` chosen."""
    html = html or client.get("/review" + query).get_data(as_text=True)
    form = html.split('<form id="bulk"', 1)[1].split("</form>", 1)[0]
    fields = [(n, v) for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)]
    extra = []
    for key, value in data.items():
        extra += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    body = [pair for pair in fields if pair[0] not in data] + extra
    return client.post("/review/bulk", data=_multi(body))


def _multi(pairs):
    from werkzeug.datastructures import MultiDict

    return MultiDict(pairs)


def results(response) -> dict[int, str]:
    html = response.get_data(as_text=True)
    return {int(i): " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for i, cell in re.findall(r'<tr id="result-(\d+)" data-result="\w+">.*?class="result">(.*?)</td>',
                                      html, re.S)}


def test_each_row_has_a_checkbox_for_the_bulk_form(client, queue):
    _, ids, _ = queue
    html = client.get("/review").get_data(as_text=True)
    for lead_id in ids.values():
        assert f'<input type="checkbox" name="ids" value="{lead_id}" form="bulk"' in html
    assert "all 4 on this page" in html and "all 4 matching these filters" in html


def test_bulk_approve_of_the_ticked_rows_shows_a_result_per_row(client, queue):
    (admin, manager, _, _), ids, _ = queue
    assert admin.post(f"/api/v1/leads/{ids['Dev Patel']}/reject", json={"reason": "spam"}).status_code == 200
    response = bulk(client, action="approve", ids=[str(ids["Asha Rao"]), str(ids["Kiran Kumar"])])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Bulk approve: 2 done" in html and "Approved: 2 of 2 leads." in html
    assert results(response) == {ids["Asha Rao"]: "done", ids["Kiran Kumar"]: "done"}
    assert "Asha Rao" in html and "+91 98765 43210" in html
    for name in ("Asha Rao", "Kiran Kumar"):
        lead = api_lead(admin, ids[name])
        assert lead["status"] == "approved"
        assert lead["history"][-1]["action"] == "approved" and lead["history"][-1]["actor_id"] == manager.user_id
    assert api_lead(admin, ids["Nisha Shah"])["status"] == "pending_review"
    assert set(rows_on(client.get("/review").get_data(as_text=True))) == {ids["Nisha Shah"]}


def test_bulk_reject_of_the_page_says_why_a_row_was_not_done(client, queue):
    (admin, _, _, _), ids, _ = queue
    page = client.get("/review").get_data(as_text=True)  # the page as the manager saw it
    assert admin.post(f"/api/v1/leads/{ids['Kiran Kumar']}/approve").status_code == 200
    response = bulk(client, html=page, action="reject", scope="page", reason="spam")
    assert set(rows_on(page)) == set(ids.values())
    got = results(response)
    assert got[ids["Kiran Kumar"]] == "not done This lead was approved; it is no longer up for review."
    assert all(got[ids[n]] == "done" for n in ("Asha Rao", "Dev Patel", "Nisha Shah"))
    assert "Bulk reject: 3 done, 1 not done" in response.get_data(as_text=True)
    lead = api_lead(admin, ids["Asha Rao"])
    assert (lead["status"], lead["reject_reason"]) == ("rejected", "spam")
    assert lead["history"][-1]["detail"] == {"reason": "spam"}
    assert api_lead(admin, ids["Kiran Kumar"])["status"] == "approved"


def test_bulk_assign_of_everything_matching_the_filters(client, queue):
    (admin, _, ravi, sita), ids, _ = queue
    response = bulk(client, f"?owner_id={ravi.user_id}", action="assign", scope="matching",
                    user_id=str(sita.user_id))
    assert set(results(response)) == {ids["Asha Rao"], ids["Kiran Kumar"], ids["Dev Patel"]}
    assert "Assigned to Sita Rep: 3 of 3 leads." in response.get_data(as_text=True)
    for name in ("Asha Rao", "Kiran Kumar", "Dev Patel"):
        lead = api_lead(admin, ids[name])
        assert lead["owner_id"] == sita.user_id
        assert lead["history"][-1]["detail"] == {"from_user_id": ravi.user_id, "to_user_id": sita.user_id}
    assert f'href="/review?owner_id={ravi.user_id}' in response.get_data(as_text=True)  # back to the same filters


def test_all_matching_is_capped_by_the_apis_bulk_limit(client, monkeypatch, queue):
    import server.web.review_pages as views

    (admin, _, _, _), ids, _ = queue
    monkeypatch.setattr(views, "BULK_LIMIT", 2)
    assert "all 4 matching these filters (the first 2" in client.get("/review").get_data(as_text=True)
    response = bulk(client, "?sort=name", action="approve", scope="matching")
    assert set(results(response)) == {ids["Asha Rao"], ids["Dev Patel"]}  # the first two by name
    assert api_lead(admin, ids["Kiran Kumar"])["status"] == "pending_review"


def test_nothing_ticked_or_a_bad_choice_changes_nothing(client, queue):
    (admin, _, _, _), ids, _ = queue
    response = bulk(client, action="approve")
    assert response.status_code == 302
    assert "Tick at least one lead" in client.get("/review").get_data(as_text=True)
    bulk(client, action="reject", ids=[str(ids["Asha Rao"])], reason="boring")
    assert "Bulk action: please check reason." in client.get("/review").get_data(as_text=True)
    bulk(client, action="delete", ids=[str(ids["Asha Rao"])])
    assert "please check action" in client.get("/review").get_data(as_text=True)
    bulk(client, action="approve", ids=["x"])
    assert "please check ids" in client.get("/review").get_data(as_text=True)
    assert all(api_lead(admin, i)["status"] == "pending_review" for i in ids.values())


def test_bulk_needs_the_csrf_token(client, queue):
    (admin, _, _, _), ids, _ = queue
    response = client.post("/review/bulk", data={"action": "approve", "ids": str(ids["Asha Rao"])})
    assert response.status_code == 400
    assert api_lead(admin, ids["Asha Rao"])["status"] == "pending_review"


def test_another_organisations_ids_in_a_bulk_action_are_not_found(client, make_org, make_user, make_device, queue):
    (admin, _, _, _), ids, _ = queue
    other = make_org(region="IN")
    their_rep = make_device(make_user(other, name="Their Rep"))
    upload_calls(their_rep, [call_row(9, "+91 95555 55555", name="Their Customer")], batch="o1")
    theirs = other.get("/api/v1/leads").json["items"][0]["id"]
    response = bulk(client, action="approve", ids=[str(theirs), str(ids["Asha Rao"])])
    assert results(response) == {theirs: "not done No such lead.", ids["Asha Rao"]: "done"}
    assert "Their Customer" not in response.get_data(as_text=True)
    assert other.get(f"/api/v1/leads/{theirs}").json["status"] == "pending_review"


# --- the merge picker --------------------------------------------------------

def test_the_queue_links_each_lead_to_its_merge_picker(client, queue):
    _, ids, _ = queue
    html = client.get("/review").get_data(as_text=True)
    assert f'href="/leads/{ids["Asha Rao"]}/merge?next=/review">Merge into…</a>' in html
    assert 'name="into_id"' not in html  # no numeric id to type


def test_the_picker_finds_contacts_and_leads_by_name_with_their_numbers(client, queue):
    _, ids, contact = queue
    page = client.get(f"/leads/{ids['Kiran Kumar']}/merge?q=asha")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    found = set(re.findall(r'id="candidate-(\w+)-(\d+)"', html))
    assert found == {("contact", str(contact)), ("lead", str(ids["Asha Rao"]))}
    row = html.split(f'id="candidate-contact-{contact}"', 1)[1].split("</tr>", 1)[0]
    assert "Asha Rao (Rao Traders)" in row and "Rao Traders" in row
    assert 'href="tel:+918040001234">+91 80 4000 1234</a>' in row and 'href="tel:+919900012345"' in row
    assert "csrf_token" in row and f'name="into_id" value="{contact}"' in row


def test_the_picker_finds_by_any_form_of_a_number_and_never_offers_the_lead_itself(client, queue):
    _, ids, contact = queue
    for q in ("99000 12345", "+919900012345", "900012345"):
        html = client.get(f"/leads/{ids['Asha Rao']}/merge", query_string={"q": q}).get_data(as_text=True)
        assert re.findall(r'id="candidate-(\w+)-(\d+)"', html) == [("contact", str(contact))], q
    html = client.get(f"/leads/{ids['Asha Rao']}/merge?q=Asha").get_data(as_text=True)
    assert f'id="candidate-lead-{ids["Asha Rao"]}"' not in html
    assert "No contact or lead matches" in client.get(f"/leads/{ids['Asha Rao']}/merge?q=zzz").get_data(as_text=True)
    assert "Type a name or a number" in client.get(f"/leads/{ids['Asha Rao']}/merge").get_data(as_text=True)


def test_picking_a_candidate_merges_into_it(client, queue):
    (admin, manager, _, _), ids, contact = queue
    path = f"/leads/{ids['Asha Rao']}/merge"
    picker = client.get(f"{path}?q=rao&next=/review").get_data(as_text=True)
    form = picker.split(f'id="candidate-contact-{contact}"', 1)[1].split("</form>", 1)[0]
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    assert data["next"] == "/review" and data["into_type"] == "contact"
    response = client.post(path, data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/review"
    assert f"Lead #{ids['Asha Rao']} merged into contact #{contact}." in client.get("/review").get_data(as_text=True)
    lead = api_lead(admin, ids["Asha Rao"])
    assert (lead["status"], lead["merged_into_type"], lead["merged_into_id"]) == ("merged", "contact", contact)
    assert lead["history"][-1] == {**lead["history"][-1], "action": "merged", "actor_id": manager.user_id,
                                   "detail": {"into_type": "contact", "into_id": contact}}
    assert "already merged" in client.get(f"{path}?q=rao").get_data(as_text=True)


def test_another_organisations_lead_or_target_is_not_found(client, clean_app, make_org, make_user, make_device,
                                                           queue):
    (admin, _, _, _), ids, _ = queue
    other = make_org(region="IN")
    their_rep = make_device(make_user(other, name="Their Rep"))
    upload_calls(their_rep, [call_row(9, "+91 95555 55555", name="Asha Elsewhere")], batch="o1")
    theirs = other.get("/api/v1/leads").json["items"][0]["id"]
    their_contact = add_contact(clean_app, other.organization_id, "Asha Outside", "+91 95555 00000")
    assert client.get(f"/leads/{theirs}/merge?q=asha").status_code == 404
    html = client.get(f"/leads/{ids['Kiran Kumar']}/merge?q=asha").get_data(as_text=True)
    assert "Asha Elsewhere" not in html and "Asha Outside" not in html
    response = client.post(f"/leads/{theirs}/merge", data={"csrf_token": csrf_of(client, "/review"),
                                                           "into_type": "lead", "into_id": str(ids["Asha Rao"])})
    assert response.status_code == 404
    client.post(f"/leads/{ids['Kiran Kumar']}/merge", data={
        "csrf_token": csrf_of(client, "/review"), "next": "/review", "into_type": "contact",
        "into_id": str(their_contact)})
    assert f"Lead #{ids['Kiran Kumar']}: No such contact." in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["Kiran Kumar"])["status"] == "pending_review"
    assert other.get(f"/api/v1/leads/{theirs}").json["status"] == "pending_review"


def test_a_rep_gets_a_403_page(client, queue):
    (_, _, ravi, _), ids, _ = queue
    client.post("/logout", data={"csrf_token": csrf_of(client, "/review")})
    response = sign_in(client, ravi.email, next=f"/leads/{ids['Asha Rao']}/merge?q=asha")
    assert response.status_code == 403 and "reps work from the phone app" in response.get_data(as_text=True)
    assert client.get(f"/leads/{ids['Asha Rao']}/merge?q=asha").status_code == 302
    assert client.post("/review/bulk", data={"action": "approve"}).status_code == 400  # no session's token
