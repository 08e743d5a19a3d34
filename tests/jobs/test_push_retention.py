"""Recorded pushes are deleted a week past their TTL by an hourly job, in
bounded batches, in every organisation; younger ones stay. Time is moved
with the clock fixture."""
from datetime import timedelta

from sqlalchemy import select


def push_ids(app, organization_id=None):
    from server.extensions import db
    from mobile_sync.store.models import PushMessage

    query = select(PushMessage.id).order_by(PushMessage.id).execution_options(all_organizations=True)
    if organization_id is not None:
        query = query.where(PushMessage.organization_id == organization_id)
    with app.app_context():
        return list(db.session.execute(query).scalars())


def ring(actor, times=1):
    for _ in range(times):
        response = actor.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
        assert response.status_code == 202


def record_notice(app, actor, clock, ttl_s):
    """A push with a long TTL (a notice), as the processing job records one."""
    from server.extensions import db
    from mobile_sync.store.models import PushMessage

    with app.app_context():
        message = PushMessage(organization_id=actor.organization_id, push_id="n" * 36, device_id=actor.device_id,
                              user_id=actor.user_id, kind="new_lead", collapse_key="k", ttl_s=ttl_s, data={},
                              status="sent", attempts=1, created_at=clock.now,
                              expires_at=clock.now + timedelta(seconds=ttl_s))
        db.session.add(message)
        db.session.commit()
        return message.id


def purge(app, batch_size=None):
    from server.jobs import purge_push_messages

    with app.app_context():
        return purge_push_messages(batch_size)


def test_pushes_a_week_past_their_ttl_are_deleted_in_every_organisation(make_org, make_device, clean_app, clock):
    first = make_device(make_org(region="IN"))
    second = make_device(make_org(region="IN"))
    ring(first, 3)
    ring(second, 2)
    notice = record_notice(clean_app, first, clock, ttl_s=24 * 3600)
    clock.advance(days=7, seconds=29)  # the rings' 30 s TTL plus a week: not yet
    assert purge(clean_app) == 0
    assert len(push_ids(clean_app)) == 6

    clock.advance(seconds=2)
    fresh = make_device(make_org(region="IN"))
    ring(fresh)
    assert purge(clean_app) == 5
    assert push_ids(clean_app) == [notice] + push_ids(clean_app, fresh.organization_id)
    assert len(push_ids(clean_app, fresh.organization_id)) == 1

    clock.advance(days=1)  # the notice's day of TTL has run out too, plus a week
    assert purge(clean_app) == 1
    assert push_ids(clean_app) == push_ids(clean_app, fresh.organization_id)


def test_the_purge_goes_in_bounded_batches_until_nothing_is_due(make_org, make_device, clean_app, clock):
    from mobile_sync.push_retention import purge_expired_pushes
    from server.extensions import db

    rep = make_device(make_org(region="IN"))
    ring(rep, 5)
    clock.advance(days=8)
    with clean_app.app_context():
        assert purge_expired_pushes(db.session, rep.organization_id, clock.now, batch_size=2) == 2
        db.session.rollback()
    assert purge(clean_app, batch_size=2) == 5
    assert push_ids(clean_app) == []
    assert purge(clean_app, batch_size=2) == 0


def test_the_purge_runs_hourly_and_from_the_command_line(make_org, make_device, clean_app, clock):
    from server.jobs import purge_push_messages
    from server.schedule import SCHEDULE

    assert [(queue, cron) for job, queue, _, cron, _ in SCHEDULE if job is purge_push_messages] == \
        [("maintenance", "10 * * * *")]
    rep = make_device(make_org(region="IN"))
    ring(rep, 2)
    clock.advance(days=8)
    result = clean_app.test_cli_runner().invoke(args=["purge-pushes", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2 recorded pushes deleted"
    assert push_ids(clean_app) == []
