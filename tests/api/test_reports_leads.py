"""The leads report equals a brute-force computation over the leads and the
calls left, for random leads and call logs processed in random order, then
reviewed (approved, rejected, merged into another lead), with calls (and
maybe their leads) erased by number and purged by age; and through the API,
after each review action and an erasure. On PostgreSQL the report reads the
range's whole UTC days from the rollup its triggers keep (ranges in New York
and Kolkata have part days at both edges), and rebuilding the rollup from
the leads changes nothing; deleting an organisation takes its rollup."""
from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from statistics import median
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, select, update

from tests.api.report_team import reps_with_phones, uploads_of
from tests.api.test_reports import at, report, upload

ZONES = ("America/New_York", "Asia/Kolkata", "UTC")
NUMBERS = ("+919876543210", "+919123456789", "+918877665544", "+917000000001")
SOURCES = ("phone_call", "expo", "web")
BASE = datetime(2026, 10, 30, tzinfo=timezone.utc)
SPAN_MINUTES = 10 * 24 * 60

calls_strategy = st.lists(st.tuples(
    st.integers(0, 1),                                # user
    st.integers(0, SPAN_MINUTES),                     # minute after BASE
    st.sampled_from((1, 2, 2, 2, 3)),                 # Android type: outgoing ones respond
    st.sampled_from(NUMBERS + (None,)),
    st.integers(0, 2),                                # upload batch
), max_size=30)
leads_strategy = st.lists(st.tuples(
    st.sampled_from(SOURCES),
    st.integers(0, 1),                                # owner
    st.integers(0, SPAN_MINUTES),                     # created, minutes after BASE
    st.one_of(st.none(), st.integers(0, SPAN_MINUTES)),  # first call
    st.sampled_from(("keep", "approve", "reject", "merge")),
), min_size=1, max_size=len(NUMBERS))


def _brute(leads, calls, start, end, owners):
    counts: dict = {}
    delays = defaultdict(list)
    for lead in leads:
        if not start <= lead["created_at"] < end or (owners is not None and lead["owner_id"] not in owners):
            continue
        item = counts.setdefault(lead["source"], {"created": 0, "approved": 0, "rejected": 0, "merged": 0,
                                                  "pending": 0})
        item["created"] += 1
        item[{"pending_review": "pending"}.get(lead["status"], lead["status"])] += 1
        answered_from = lead["first_call_at"] or lead["created_at"]
        responses = [c["started_at"] for c in calls if lead["phone"] and c["e164"] == lead["phone"]
                     and c["call_type"] == 2 and c["started_at"] >= answered_from]
        if responses:
            delays[lead["source"]].append(int((min(responses) - answered_from).total_seconds()))
    return [{"source": source, **counts[source], "responded": len(delays[source]),
             "median_first_response_seconds": median(delays[source]) if delays[source] else None}
            for source in sorted(counts)]


@settings(max_examples=int(os.environ.get("REPORTS_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(zone=st.sampled_from(ZONES), rows=calls_strategy, lead_rows=leads_strategy, order=st.permutations(range(3)),
       erase=st.sampled_from(NUMBERS[:2] + (None,)), erase_leads=st.booleans(), purge_days=st.one_of(st.none(), st.integers(0, 9)),
       first_offset=st.integers(-1, 9), length=st.integers(1, 12), seconds=st.integers(0, 59),
       micros=st.integers(0, 999_999), call_ms=st.integers(0, 999))
def test_the_leads_report_equals_a_brute_force_count(clean_app, zone, rows, lead_rows, order, erase, erase_leads,
                                                     purge_days, first_offset, length, seconds, micros, call_ms):
    # Leads made at any microsecond and calls at any millisecond (as phones
    # give them): a delay's fraction of a second is truncated on both databases.
    from mobile_sync import leads as lead_reviews
    from mobile_sync.reports import figures
    from mobile_sync.reports.processing_hook import after_processing_run
    from mobile_sync.store.models import Call, Lead, Organization, User
    from server.extensions import db

    with clean_app.app_context():
        session = db.session
        try:
            org = Organization(name="Leads", region="IN", settings={"timezone": zone})
            session.add(org)
            session.flush()
            manager = User(organization_id=org.id, name="M", email=f"m-{org.id}@example.test", password_hash="x",
                           role="manager")
            session.add(manager)
            users = reps_with_phones(session, org.id, 2)
            leads = []
            for number, (source, owner, created, first_call, _action) in zip(NUMBERS, lead_rows):
                lead = Lead(organization_id=org.id, name="L", phone=number, source=source, status="pending_review",
                            owner_id=users[owner][0], calls_count=0,
                            created_at=BASE + timedelta(minutes=created, seconds=seconds, microseconds=micros),
                            first_call_at=None if first_call is None else BASE + timedelta(minutes=first_call))
                session.add(lead)
                leads.append(lead)
            session.flush()
            uploads = uploads_of(session, org.id, users, 3, BASE)
            for n, (user, minute, kind, number, batch) in enumerate(rows):
                started = BASE + timedelta(minutes=minute, milliseconds=call_ms * (n + 1) % 1000)
                session.add(Call(organization_id=org.id, device_id=users[user][1], user_id=users[user][0],
                                 upload_id=uploads[(batch, user)], android_id=n,
                                 date_ms=int(started.timestamp() * 1000), started_at=started,
                                 duration_s=30 if kind == 2 else 0, call_type=kind, presentation=1,
                                 raw_number=number, e164=number, number_status="ok" if number else "private",
                                 processed_at=BASE))
            session.flush()
            for batch in order:  # late uploads: batches processed in any order
                after_processing_run(session, org.id, [uploads[(batch, index)] for index in range(2)])
            now = BASE + timedelta(days=20)
            for lead, (*_, action) in zip(leads, lead_rows):
                if action == "approve":
                    lead_reviews.approve(session, lead, manager, now)
                elif action == "reject":
                    lead_reviews.reject(session, lead, manager, "not_a_lead", now, "key")
                elif action == "merge" and lead is not leads[0] and leads[0].status != "merged":
                    lead_reviews.merge(session, lead, manager, "lead", leads[0].id, now)
            if erase:
                session.execute(delete(Call).where(Call.organization_id == org.id, Call.e164 == erase))
                if erase_leads:  # as an erasure of the number does
                    session.execute(delete(Lead).where(Lead.organization_id == org.id, Lead.phone == erase))
            if purge_days is not None:
                cutoff = BASE + timedelta(days=purge_days, hours=7)
                session.execute(delete(Call).where(Call.organization_id == org.id, Call.started_at < cutoff))
            session.commit()  # a report reads what was committed (the rollup is settled at the commit)
            left = [{"started_at": c.started_at, "call_type": c.call_type, "e164": c.e164}
                    for c in session.query(Call).filter(Call.organization_id == org.id)]
            stored = [{"source": lead.source, "status": lead.status, "phone": lead.phone, "owner_id": lead.owner_id,
                       "created_at": lead.created_at, "first_call_at": lead.first_call_at}
                      for lead in session.query(Lead).filter(Lead.organization_id == org.id)]
            tz = ZoneInfo(zone)
            first = (BASE + timedelta(days=first_offset)).date()
            last = first + timedelta(days=length - 1)
            start = datetime.combine(first, datetime.min.time(), tz).astimezone(timezone.utc)
            end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz).astimezone(timezone.utc)
            for owners in (None, [users[1][0]]):
                got = msgspec.to_builtins(figures.leads_report(session, org.id, first=first, last=last,
                                                               user_ids=owners))
                assert got == _brute(stored, left, start, end, owners), owners
            assert _rebuilt_rollup_unchanged(session, org.id)
        finally:
            session.rollback()


def _rollup(session, organization_id: int) -> list[tuple]:
    from mobile_sync.store.models import LeadDay

    return [tuple(row) for row in session.execute(
        select(LeadDay.day, LeadDay.source, LeadDay.created, LeadDay.approved, LeadDay.rejected, LeadDay.merged,
               LeadDay.pending, LeadDay.delays).where(LeadDay.organization_id == organization_id)
        .order_by(LeadDay.day, LeadDay.source))]


def _rebuilt_rollup_unchanged(session, organization_id: int) -> bool:
    """What the triggers kept equals the organisation's rollup worked out
    again from its leads (both empty on SQLite)."""
    from mobile_sync.store.lead_rollup import rebuild_lead_days

    kept = _rollup(session, organization_id)
    rebuild_lead_days(session, organization_id)
    return kept == _rollup(session, organization_id)


def test_deleting_an_organisation_takes_its_leads_rollup_and_leaves_the_others(clean_app):
    from mobile_sync.reports import figures
    from mobile_sync.store.models import Lead, Organization
    from server.extensions import db

    first, last = (BASE - timedelta(days=1)).date(), (BASE + timedelta(days=3)).date()
    with clean_app.app_context():
        session = db.session
        orgs = []
        for name in ("Gone", "Stays"):
            org = Organization(name=name, region="IN", settings={"timezone": "Asia/Kolkata"})
            session.add(org)
            session.flush()
            orgs.append(org.id)
            for day, number in enumerate(NUMBERS):
                session.add(Lead(organization_id=org.id, name="L", phone=number, source="expo", calls_count=0,
                                 created_at=BASE + timedelta(days=day % 3, hours=day), status="pending_review"))
        session.commit()
        kept = figures.leads_report(session, orgs[1], first=first, last=last, user_ids=None)
        assert [(item.created, item.pending) for item in kept] == [(4, 4)]
        session.execute(delete(Organization).where(Organization.id == orgs[0]))
        session.commit()
        assert _rollup(session, orgs[0]) == []
        assert figures.leads_report(session, orgs[1], first=first, last=last, user_ids=None) == kept
        assert _rebuilt_rollup_unchanged(session, orgs[1])
        session.rollback()


@pytest.mark.parametrize("first_to_commit", (0, 1))
def test_two_transactions_adding_leads_to_one_day_both_count(clean_app, first_to_commit):
    """Each transaction works its day out again at its commit, after the
    other's commit or before it: either way both leads count."""
    from sqlalchemy.orm import Session

    from mobile_sync.reports import figures
    from mobile_sync.store.models import Lead, Organization
    from server.extensions import db

    with clean_app.app_context():
        if db.engine.dialect.name == "sqlite":
            pytest.skip("SQLite runs one write transaction at a time")
        org = Organization(name="Two", region="IN", settings={"timezone": "UTC"})
        db.session.add(org)
        db.session.commit()
        sessions = [Session(db.engine), Session(db.engine)]
        try:
            for index, session in enumerate(sessions):
                session.add(Lead(organization_id=org.id, name="L", phone=NUMBERS[index], source="expo",
                                 status="pending_review", calls_count=0, created_at=BASE + timedelta(hours=index + 1)))
                session.flush()
            sessions[first_to_commit].commit()
            sessions[1 - first_to_commit].commit()
        finally:
            for session in sessions:
                session.close()
        got = figures.leads_report(db.session, org.id, first=(BASE - timedelta(days=1)).date(),
                                   last=(BASE + timedelta(days=1)).date(), user_ids=None)
        assert [(item.source, item.created) for item in got] == [("expo", 2)]
        assert _rebuilt_rollup_unchanged(db.session, org.id)
        db.session.rollback()


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    return {"admin": admin, "manager": make_user(admin, "manager"),
            "ravi": make_device(make_user(admin, name="Ravi")), "sita": make_device(make_user(admin, name="Sita"))}


LEAD_A, LEAD_B = "+91 90000 12345", "+91 90000 67890"


def _leads(actor):
    return report(actor, "leads").json["items"]


def _only(items):
    assert len(items) == 1, items
    return items[0]


def test_the_leads_report_follows_review_actions_and_erasure(team, clock):
    ravi, sita, manager, admin = team["ravi"], team["sita"], team["manager"], team["admin"]
    clock.set(datetime(2026, 11, 20, 6, tzinfo=timezone.utc))  # processing makes the leads now
    upload(ravi, (LEAD_A, at(20, 10), 3, 0), (LEAD_B, at(20, 10, 5), 3, 0))  # two unknown numbers: two leads
    upload(sita, (LEAD_A, at(20, 10, 10), 2, 30), (LEAD_B, at(20, 10, 25), 2, 0))  # their first responses
    item = _only(_leads(manager))
    assert (item["created"], item["pending"], item["responded"]) == (2, 2, 2)
    assert item["median_first_response_seconds"] == 900.0  # 600 and 1,200 s: the mean of the two
    ids = {lead["phone"]: lead["id"] for lead in manager.get("/api/v1/leads").json["items"]}
    a, b = ids["+919000012345"], ids["+919000067890"]

    assert manager.post(f"/api/v1/leads/{a}/approve").status_code == 200
    assert manager.post(f"/api/v1/leads/{b}/reject", json={"reason": "not_a_lead"}).status_code == 200
    item = _only(_leads(manager))
    assert (item["approved"], item["rejected"], item["pending"], item["responded"]) == (1, 1, 0, 2)

    # B merged into A: B has no number of its own any more, so no response.
    assert manager.post(f"/api/v1/leads/{b}/approve").status_code == 200
    assert manager.post(f"/api/v1/leads/{b}/merge", json={"into_type": "lead", "into_id": a}).status_code == 200
    item = _only(_leads(manager))
    assert (item["created"], item["approved"], item["merged"], item["responded"]) == (2, 1, 1, 1)
    assert item["median_first_response_seconds"] == 600

    # Sita withdraws call-log consent: her calls go, A's first response with
    # them; Ravi's later outgoing call is A's first response now.
    upload(ravi, (LEAD_A, at(20, 12), 2, 10))
    assert _only(_leads(manager))["median_first_response_seconds"] == 600
    from tests.api.test_safety_net_consent import POLICY
    response = sita.put(f"/api/v1/devices/{sita.device_id}/consent", device=True,
                        json={"contacts": True, "call_log": False, "policy_version": POLICY})
    assert response.status_code == 200, response.json
    item = _only(_leads(manager))
    assert (item["responded"], item["median_first_response_seconds"]) == (1, 2 * 3600)

    # Erasure of A's number: the leads that held it go (B was merged into A), with their calls.
    assert admin.post("/api/v1/erasure", json={"phone": LEAD_A}).status_code == 200
    assert _leads(manager) == []


def test_a_first_response_counts_whole_seconds_truncated(team, clock):
    # Phones give calls to the millisecond: a response 9.2 s after the first
    # call is 9 s on both databases, and 10.8 s is 10 (never rounded up).
    ravi, sita, manager = team["ravi"], team["sita"], team["manager"]
    clock.set(datetime(2026, 11, 20, 6, tzinfo=timezone.utc))
    upload(ravi, (LEAD_A, at(20, 10) + 900, 3, 0), (LEAD_B, at(20, 10) + 100, 3, 0))  # two leads
    upload(sita, (LEAD_A, at(20, 10) + 10_100, 2, 30), (LEAD_B, at(20, 10) + 10_900, 2, 30))
    item = _only(_leads(manager))
    assert (item["created"], item["responded"]) == (2, 2)
    assert item["median_first_response_seconds"] == 9.5  # 9 and 10 s


def test_a_lead_made_by_hand_is_answered_by_a_call_processed_before_it(team, clock):
    """The rule at the lead's creation: a call with its number at or after
    its creation, processed before it (a phone whose clock runs ahead; the
    number a contact's, so the call made no lead), is its first response."""
    ravi, manager = team["ravi"], team["manager"]
    clock.set(datetime(2026, 11, 20, 3, tzinfo=timezone.utc))
    assert manager.post("/api/v1/contacts", json={"name": "Asha", "phones": [LEAD_A]}).status_code == 201
    upload(ravi, (LEAD_A, at(20, 10), 2, 30))  # 04:30 UTC, outgoing, linked to the contact
    assert manager.post("/api/v1/leads", json={"name": "Asha", "phone": LEAD_A}).status_code == 201
    item = _only(_leads(manager))
    assert (item["created"], item["responded"], item["median_first_response_seconds"]) == (1, 1, 90 * 60)


def test_reports_rebuild_works_the_first_responses_out_again(team, clock, clean_app):
    ravi, sita, manager = team["ravi"], team["sita"], team["manager"]
    clock.set(datetime(2026, 11, 20, 6, tzinfo=timezone.utc))
    upload(ravi, (LEAD_A, at(20, 10), 3, 0))
    upload(sita, (LEAD_A, at(20, 10, 10), 2, 30))
    assert _only(_leads(manager))["median_first_response_seconds"] == 600
    from server.extensions import db
    from mobile_sync.store.models import Lead
    with clean_app.app_context():  # as a database restored from before the column was filled
        db.session.execute(update(Lead).values(first_response_at=None))
        db.session.commit()
    assert _only(_leads(manager))["responded"] == 0
    result = clean_app.test_cli_runner().invoke(args=["reports-rebuild", "--organization",
                                                      str(team["admin"].organization_id)])
    assert result.exit_code == 0, result.output
    item = _only(_leads(manager))
    assert (item["responded"], item["median_first_response_seconds"]) == (1, 600)


def test_the_stores_rollup_ddl_is_the_migrations():
    """The triggers made with the table from the models (`lead_rollup`) are
    those the migration made: a change of them needs a migration."""
    import importlib.util

    from mobile_sync.store import lead_rollup

    path = os.path.join(os.path.dirname(__file__), "..", "..", "migrations", "versions",
                        "9e5f6a7b8c93_report_lead_days.py")
    spec = importlib.util.spec_from_file_location("report_lead_days_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    for name in ("REFRESH_FUNCTION", "TOUCHED_FUNCTION", "SETTLE_FUNCTION", "TRIGGERS", "FILL"):
        assert getattr(lead_rollup, name) == getattr(migration, name), name
