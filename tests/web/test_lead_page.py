"""A lead's page: every number of the record (merged ones too) as tel: links,
calls with direction and duration in the viewer's zone, call-back tasks,
notes, the details form (the API's schema and domain function; bad input a
message beside the field; a merged lead read-only) and the review history."""
from __future__ import annotations

import re

import pytest

from tests.phone_data import call_row
from tests.web.conftest import csrf_of, post_action, sign_in, upload_calls
from tests.web.queue_data import ASHA, KIRAN, api_lead


def page_of(client, lead_id: int):
    response = client.get(f"/leads/{lead_id}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


def edit(client, lead_id: int, **fields):
    path = f"/leads/{lead_id}"
    data = {"name": "", "company": "", "email": "", "source": "", **fields}
    return client.post(f"{path}/edit", data={"csrf_token": csrf_of(client, path), **data})


def history(html: str) -> list[str]:
    items = re.findall(r'<li data-action="[a-z]+">(.*?)</li>', section(html, "history"), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]


@pytest.fixture
def desk(client, page_team):
    """Asha's lead (an answered then a missed call: a call-back task) and Kiran's, from Ravi's phone."""
    admin, manager, ravi, sita = page_team
    upload_calls(ravi, [call_row(1, ASHA, name="Asha Rao", duration=125), call_row(2, ASHA, type_=3, duration=0),
                        call_row(3, KIRAN, type_=2, name="Kiran Kumar", duration=40)])
    ids = {item["phone"]: item["id"] for item in admin.get("/api/v1/leads").json["items"]}
    assert sign_in(client, manager.email).status_code == 302
    return page_team, {"asha": ids["+919876543210"], "kiran": ids["+919123456789"]}


def test_the_page_shows_the_number_as_a_tel_link_and_calls_with_direction_and_duration(client, desk):
    _, ids = desk
    html = page_of(client, ids["asha"])
    assert '<a class="phone" href="tel:+919876543210">+91 98765 43210</a>' in html
    calls = html.split('<table class="calls">', 1)[1].split("</table>", 1)[0]
    assert 'data-label="Direction" class="direction">incoming<' in calls
    assert 'data-label="Direction" class="direction">missed<' in calls
    assert "2:05" in calls and "0:00" in calls
    assert "20 Nov 2025, 12:31 IST" in calls  # 07:01 UTC in the IN organisation's zone
    assert '<a class="danger-link" href="/records/lead/%d/erase">Erase this person…</a>' % ids["asha"] in html


def test_times_are_in_the_viewers_own_zone(client, desk):
    (_, manager, _, _), ids = desk
    assert manager.patch("/api/v1/me", json={"timezone": "Europe/London"}).status_code == 200
    html = page_of(client, ids["asha"])
    assert "20 Nov 2025, 07:01 GMT" in html and "IST" not in html


def test_a_merged_records_every_number_is_shown(client, desk):
    (admin, _, _, _), ids = desk
    assert admin.post(f"/api/v1/leads/{ids['kiran']}/merge",
                      json={"into_type": "lead", "into_id": ids["asha"]}).status_code == 200
    html = page_of(client, ids["asha"])
    numbers = html.split('<dd class="numbers">', 1)[1].split("</dd>", 1)[0]
    assert re.findall(r'href="tel:(\+\d+)">([^<]+)<', numbers) == [
        ("+919876543210", "+91 98765 43210"), ("+919123456789", "+91 91234 56789")]
    assert "Numbers" in html
    merged = page_of(client, ids["kiran"])
    assert "moved with the merge" in merged and f'href="/leads/{ids["asha"]}">lead #{ids["asha"]}</a>' in merged


def test_call_back_tasks_are_listed_with_their_status(client, desk):
    (_, _, ravi, _), ids = desk
    tasks = section(page_of(client, ids["asha"]), "tasks")
    [task_id] = [int(t) for t in re.findall(r'id="task-(\d+)" data-status="open"', tasks)]
    assert "Ravi Rep" in tasks and ">open<" in tasks
    assert ravi.post(f"/api/v1/tasks/{task_id}/done").status_code == 200
    tasks = section(page_of(client, ids["asha"]), "tasks")
    assert f'id="task-{task_id}" data-status="done"' in tasks and "done by user" in tasks
    assert "No call-back tasks." in section(page_of(client, ids["kiran"]), "tasks")


def test_details_are_edited_through_the_apis_schema_and_shown_in_the_history(client, desk):
    (admin, manager, _, _), ids = desk
    response = edit(client, ids["asha"], name="Asha Rao", company="Rao Traders", email=" Asha@Example.COM ",
                    source="Expo 2026")
    assert response.status_code == 302 and response.headers["Location"] == f"/leads/{ids['asha']}"
    html = page_of(client, ids["asha"])
    assert f"Details of lead #{ids['asha']} saved." in html
    lead = api_lead(admin, ids["asha"])
    assert (lead["company"], lead["email"], lead["source"]) == ("Rao Traders", "asha@example.com", "Expo 2026")
    assert history(html)[-1].startswith("Meera Manager edited company, e-mail, source")
    # Emptying the company and the address clears them.
    edit(client, ids["asha"], name="Asha Rao", source="Expo 2026")
    lead = api_lead(admin, ids["asha"])
    assert (lead["company"], lead["email"]) == (None, None)
    assert lead["history"][-1]["detail"] == {"fields": ["company", "email"]}
    assert lead["history"][-1]["actor_id"] == manager.user_id


@pytest.mark.parametrize("fields, field, message", [
    ({"name": "", "source": "x"}, "name", "Length must be between 1 and 200."),
    ({"name": "Asha", "email": "not an address", "source": "x"}, "email", "Not a valid email address."),
    ({"name": "Asha", "source": ""}, "source", "Length must be between 1 and 100."),
    ({"name": "A" * 201, "source": "x"}, "name", "Length must be between 1 and 200."),
    ({"name": "Asha\x00", "source": "x"}, "name", "Must not contain NUL characters."),
])
def test_bad_input_is_a_message_beside_the_field_and_saves_nothing(client, desk, fields, field, message):
    (admin, _, _, _), ids = desk
    response = edit(client, ids["asha"], **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="field-error" id="e-{field}">{message}</p>' in html
    assert f'id="f-{field}"' in html and 'aria-invalid="true" aria-describedby="e-%s"' % field in html
    lead = api_lead(admin, ids["asha"])
    assert (lead["name"], lead["source"]) == ("Asha Rao", "phone_call")
    assert [e["action"] for e in lead["history"]] == ["created"]


def test_a_merged_lead_is_read_only(client, clean_app, desk):
    from tests.api.test_caller_id import add_contact

    (admin, _, _, _), ids = desk
    contact_id = add_contact(clean_app, admin.organization_id, "Asha (customer)", "+91 99999 00000")
    assert admin.post(f"/api/v1/leads/{ids['asha']}/merge",
                      json={"into_type": "contact", "into_id": contact_id}).status_code == 200
    html = page_of(client, ids["asha"])
    assert "can no longer be edited" in html and 'name="email"' not in html
    assert 'action="/leads/%d/notes"' % ids["asha"] not in html
    response = edit(client, ids["asha"], name="Someone Else", source="x")
    assert response.status_code == 302
    assert "merged into another record" in page_of(client, ids["asha"])
    assert api_lead(admin, ids["asha"])["name"] == "Asha Rao"
    assert admin.patch(f"/api/v1/leads/{ids['asha']}", json={"name": "x"}).status_code == 409


def test_the_history_tells_who_did_what_and_when(client, clean_app, desk):
    from tests.api.test_caller_id import add_contact

    (admin, manager, ravi, sita), ids = desk
    path = f"/leads/{ids['asha']}"
    post_action(client, f"{path}/reject", back=path, reason="spam")
    post_action(client, f"{path}/approve", back=path)
    post_action(client, f"{path}/approve", back=path)  # changes nothing: no second row
    post_action(client, f"{path}/assign", back=path, user_id=str(sita.user_id))
    contact_id = add_contact(clean_app, admin.organization_id, "Asha (customer)", "+91 99999 00000")
    post_action(client, f"{path}/merge", back=path, into_type="contact", into_id=str(contact_id))
    lines = history(page_of(client, ids["asha"]))
    assert [re.sub(r" \d\d \w+ \d{4}, \d\d:\d\d \w+$", "", line) for line in lines] == [
        "Ravi Rep created the lead from a call",
        "Meera Manager rejected it as spam",
        "Meera Manager approved it",
        "Meera Manager reassigned it from Ravi Rep to Sita Rep",
        f"Meera Manager merged it into contact #{contact_id}",
    ]
    assert all(line.endswith("IST") for line in lines)


def test_another_organisations_lead_is_a_404_page_for_every_form(client, make_org, make_user, make_device, desk):
    (admin, _, _, _), ids = desk
    other = make_org(region="IN")
    their_rep = make_device(make_user(other, name="Their Rep"))
    upload_calls(their_rep, [call_row(9, "+91 95555 55555", name="Their Customer")], batch="o1")
    theirs = other.get("/api/v1/leads").json["items"][0]["id"]
    assert client.get(f"/leads/{theirs}").status_code == 404
    response = client.post(f"/leads/{theirs}/edit", data={"csrf_token": csrf_of(client, "/review"),
                                                         "name": "Mine now", "source": "x"})
    assert response.status_code == 404 and "Their Customer" not in response.get_data(as_text=True)
    assert other.get(f"/api/v1/leads/{theirs}").json["name"] == "Their Customer"
    assert client.get("/leads/2147483648").status_code == 404


def test_a_rep_gets_a_403_page_not_the_lead(client, desk):
    (_, _, ravi, _), ids = desk
    client.post("/logout", data={"csrf_token": csrf_of(client, "/review")})
    response = sign_in(client, ravi.email, next=f"/leads/{ids['asha']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 403 and "reps work from the phone app" in html and "Asha Rao" not in html
    assert client.get(f"/leads/{ids['asha']}").status_code == 302
