"""The auto-lead rules, one row per default and exclusion, and one lead per
number even when two reps upload at once."""
import threading

import pytest

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row, contact_row

UNKNOWN = "+91 91234 56789"


def outcomes(app):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import Call

    with app.app_context():
        return [c.outcome for c in db.session.execute(select(Call).order_by(Call.id)).scalars()]


def leads_in(app):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import Lead

    with app.app_context():
        return db.session.execute(select(Lead).order_by(Lead.id)).scalars().all()


def set_settings(admin, **settings):
    response = admin.patch("/api/v1/settings", json=settings)
    assert response.status_code == 200, response.json


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    return admin, make_device(make_user(admin, name="Ravi")), make_device(make_user(admin, name="Sita"))


def upload(rep, *rows, batch="b"):
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": list(rows)})
    assert response.status_code == 200, response.json
    return response.json


CASES = [
    # (description, call row, setup, expected outcome)
    ("incoming unknown", dict(type_=1, duration=60), None, "lead_created"),
    ("outgoing unknown", dict(type_=2, duration=60), None, "lead_created"),
    ("missed unknown", dict(type_=3, duration=0), None, "lead_created"),
    ("answered but short", dict(type_=1, duration=4), None, "skip:short_call"),
    ("outgoing not answered", dict(type_=2, duration=0), None, "skip:short_call"),
    ("voicemail not in default types", dict(type_=4, duration=20), None, "skip:call_type"),
    ("rejected not in default types", dict(type_=5, duration=0), None, "skip:call_type"),
    ("blocked", dict(type_=6, duration=0), None, "skip:call_type"),
    ("withheld number", dict(type_=1, duration=60, presentation=2), None, "not_matchable:restricted"),
    ("emergency number", dict(type_=2, duration=60, number="112"), None, "not_matchable:emergency"),
    ("short code", dict(type_=1, duration=60, number="56161"), None, "not_matchable:short_code"),
    ("unparseable", dict(type_=1, duration=60, number="abc"), None, "not_matchable:invalid"),
    ("CRM contact", dict(type_=1, duration=60), "contact", "matched_contact"),
    ("colleague", dict(type_=1, duration=60), "colleague", "skip:colleague"),
    ("rep's phone book", dict(type_=1, duration=60), "phone_book", "skip:phone_book"),
    ("phone book allowed by setting", dict(type_=1, duration=60), "phone_book_allowed", "lead_created"),
    ("tracking number itself", dict(type_=1, duration=60), "tracking", "skip:tracking_number"),
    ("disabled", dict(type_=1, duration=60), "disabled", "skip:disabled"),
    ("min duration raised", dict(type_=1, duration=8), "min10", "skip:short_call"),
    ("outside business hours", dict(type_=1, duration=60), "hours", "skip:outside_business_hours"),
    ("first of repeat threshold 2", dict(type_=1, duration=60), "repeat2", "skip:below_repeat_threshold"),
]


@pytest.mark.parametrize("description, row, setup, expected", CASES, ids=[c[0] for c in CASES])
def test_rule(team, clean_app, description, row, setup, expected):
    admin, ravi, sita = team
    number = row.pop("number", UNKNOWN)
    if setup == "contact":
        add_contact(clean_app, admin.organization_id, "Customer", UNKNOWN)
    elif setup == "colleague":
        assert sita.patch("/api/v1/me", json={"phone": UNKNOWN}).status_code == 200
    elif setup in ("phone_book", "phone_book_allowed"):
        ravi.post("/api/v1/sync/contacts", device=True,
                  json={"batch_id": "pb", "contacts": [contact_row(1, "Mum", UNKNOWN)]})
        if setup == "phone_book_allowed":
            set_settings(admin, auto_leads={"skip_device_contacts": False})
    elif setup == "tracking":
        set_settings(admin, tracking_numbers=[{"number": UNKNOWN, "source": "Ads"}])
    elif setup == "disabled":
        set_settings(admin, auto_leads={"enabled": False})
    elif setup == "min10":
        set_settings(admin, auto_leads={"min_duration_s": 10})
    elif setup == "hours":  # call_row(1) is at 07:01 UTC on a Thursday
        set_settings(admin, timezone="UTC", auto_leads={"business_hours": {"days": [0, 1, 2, 3, 4],
                                                                           "start": "09:00", "end": "18:00"}})
    elif setup == "repeat2":
        set_settings(admin, auto_leads={"repeat_caller_threshold": 2})
    upload(ravi, call_row(1, number, **row))
    assert outcomes(clean_app) == [expected]
    made = leads_in(clean_app)
    assert len(made) == (1 if expected == "lead_created" else 0)


def test_lead_defaults_owner_status_name_and_source(team, clean_app):
    admin, ravi, _ = team
    upload(ravi, call_row(1, UNKNOWN, name="Kiran Kumar"), call_row(2, "+91 90000 12345"))
    first, second = leads_in(clean_app)
    assert (first.name, first.owner_id, first.status, first.source) == ("Kiran Kumar", ravi.user_id,
                                                                        "pending_review", "phone_call")
    assert second.name == "+91 90000 12345"  # no cached name: the formatted number


def test_later_calls_attach_to_the_lead(team, clean_app):
    _, ravi, _ = team
    upload(ravi, call_row(1, UNKNOWN), call_row(2, UNKNOWN, type_=3, duration=0))
    upload(ravi, call_row(3, UNKNOWN), batch="b2")
    assert outcomes(clean_app) == ["lead_created", "attached_to_lead", "matched_lead"]
    (lead,) = leads_in(clean_app)
    assert lead.calls_count == 3


def test_tracking_number_gives_the_source(team, clean_app):
    admin, ravi, _ = team
    set_settings(admin, tracking_numbers=[{"number": "+91 80 4000 1234", "source": "Google Ads"}])
    upload(ravi, call_row(1, UNKNOWN, via="08040001234"))
    assert leads_in(clean_app)[0].source == "Google Ads"


def test_a_campaign_device_gives_the_source(team, clean_app):
    admin, ravi, _ = team
    set_settings(admin, campaign_devices={str(ravi.device_id): "Trade fair"})
    upload(ravi, call_row(1, UNKNOWN))
    assert leads_in(clean_app)[0].source == "Trade fair"


def test_repeat_caller_threshold_makes_the_lead_on_the_second_call(team, clean_app):
    admin, ravi, _ = team
    set_settings(admin, auto_leads={"repeat_caller_threshold": 2})
    upload(ravi, call_row(1, UNKNOWN))
    upload(ravi, call_row(2, UNKNOWN), batch="b2")
    assert outcomes(clean_app) == ["skip:below_repeat_threshold", "lead_created"]


def test_the_rep_is_told_of_a_new_lead(team, clean_app):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import PushMessage

    _, ravi, _ = team
    upload(ravi, call_row(1, UNKNOWN))
    with clean_app.app_context():
        pushes = db.session.execute(select(PushMessage)).scalars().all()
    assert [(p.kind, p.user_id, p.status) for p in pushes] == [("new_lead", ravi.user_id, "sink")]
    assert "91234" not in str(pushes[0].data)


def test_the_same_unknown_number_called_by_two_reps_at_once_makes_one_lead(team, clean_app):
    _, ravi, sita = team
    barrier = threading.Barrier(2)
    results = []

    def send(rep, start):
        client = clean_app.test_client()
        barrier.wait()
        response = client.post("/api/v1/sync/calls", headers=rep.headers(device=True),
                               json={"batch_id": "x", "calls": [call_row(start + i, UNKNOWN) for i in range(20)]})
        results.append(response.status_code)

    threads = [threading.Thread(target=send, args=(rep, n * 100)) for n, rep in enumerate((ravi, sita))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200]
    (lead,) = leads_in(clean_app)
    assert lead.calls_count == 40
    assert sorted(set(outcomes(clean_app))) == ["attached_to_lead", "lead_created", "matched_lead"] or \
        sorted(set(outcomes(clean_app))) == ["attached_to_lead", "lead_created"]
    assert outcomes(clean_app).count("lead_created") == 1


def test_managers_hear_when_the_review_queue_grows(make_org, make_user, make_device, clean_app):
    from server.extensions import db
    from mobile_sync.store.models import PushMessage

    admin = make_device(make_org(region="IN"))
    set_settings(admin, auto_leads={"queue_alert_threshold": 3})
    ravi = make_device(make_user(admin))
    upload(ravi, *[call_row(i, f"+91 90000 1000{i}") for i in range(1, 3)])
    upload(ravi, *[call_row(i, f"+91 90000 1000{i}") for i in range(3, 5)], batch="b2")
    with clean_app.app_context():
        alerts = [p for p in db.session.query(PushMessage).all() if p.kind == "lead_queue"]
    assert [a.user_id for a in alerts] == [admin.user_id]


def test_a_first_sync_that_makes_many_leads_sends_one_summary_push(team, clean_app):
    from server.extensions import db
    from mobile_sync.store.models import PushMessage

    _, ravi, _ = team
    upload(ravi, *[call_row(i, f"+91 90000 2000{i}") for i in range(1, 7)])
    assert len(leads_in(clean_app)) == 6
    with clean_app.app_context():
        pushes = [p for p in db.session.query(PushMessage).all() if p.kind == "new_lead"]
    assert len(pushes) == 1 and pushes[0].user_id == ravi.user_id


def test_calls_match_one_record_contacts_before_leads_and_a_shared_number_matches_none(team, clean_app):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import Call, Contact, Lead
    from tests.api.test_caller_id import add_lead

    admin, ravi, _ = team
    org = admin.organization_id
    asha = add_contact(clean_app, org, "Asha", "+91 98765 43210")
    add_lead(clean_app, org, "Asha as a lead", "+91 98765 43210")
    add_contact(clean_app, org, "Front desk", "+91 80 4000 1000", company="Acme")
    add_contact(clean_app, org, "Accounts", "+91 80 4000 1000", company="Acme")
    bala = add_lead(clean_app, org, "Bala", "+91 90000 22222")
    upload(ravi, call_row(1, "098765 43210", type_=1, duration=30),
           call_row(2, "+91 80 4000 1000", type_=1, duration=30), call_row(3, "90000 22222", type_=3, duration=0), call_row(4, "90000 22222", type_=1, duration=45),
           call_row(5, "112", type_=2, duration=10))
    with clean_app.app_context():
        calls = db.session.execute(select(Call.android_id, Call.outcome, Call.record_type, Call.record_id,
                                          Call.processed_at).order_by(Call.android_id)).all()
        assert [tuple(c[:4]) for c in calls] == [
            (1, "matched_contact", "contact", asha), (2, "shared_number", None, None), (3, "matched_lead", "lead", bala),
            (4, "matched_lead", "lead", bala), (5, "not_matchable:emergency", None, None)]
        assert all(c.processed_at is not None for c in calls)
        contact = db.session.get(Contact, asha)
        lead = db.session.get(Lead, bala)
        assert contact.last_call_type == 1 and contact.last_spoken_at is not None
        assert contact.last_spoken_at == contact.last_call_at
        assert lead.calls_count == 2 and lead.last_call_type == 1 and lead.first_call_at < lead.last_call_at
        assert lead.last_spoken_at == lead.last_call_at  # the answered call is the newest one
