"""An RQ worker killed in the middle of a CRM delivery (real Redis, a real
`flask worker` process): the call is logged in the CRM at least once and
never twice. The fake HubSpot records the call, then holds its answer; the
worker is killed while it waits. After the lease the sweep queues the item
again, and the next attempt finds the call already logged instead of
logging it a second time."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.crm.conftest import TOKEN, pushes, sweep
from tests.phone_data import call_row

pytestmark = pytest.mark.topology


@pytest.fixture
def queueing(crm_app, redis_server):
    import redis

    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    crm_app.config["REDIS_URL"] = redis_server.url
    crm_app.extensions.pop("redis_client", None)
    yield connection
    connection.flushdb()
    crm_app.extensions.pop("redis_client", None)


def work(app, connection) -> None:
    from rq import Queue

    from server.worker import AppWorker

    AppWorker.flask_app = app
    AppWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)


def test_pushes_go_through_rq_after_the_commit(connected, hubspot, crm_app, queueing):
    from rq import Queue

    admin, rep = connected
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(1, "+91 91234 56789", duration=60)]})
    work(crm_app, queueing)  # processes the upload; the push is queued after that commit
    jobs = [job.func_name for job in Queue("default", connection=queueing).get_jobs()]
    assert jobs in ([], ["server.crm_delivery.deliver_crm_pushes"])
    work(crm_app, queueing)
    assert [p.status for p in pushes(crm_app)] == ["delivered"] and len(hubspot.calls) == 1


def test_a_worker_killed_mid_delivery_logs_the_call_once(connected, hubspot, crm_app, queueing, tmp_path):
    admin, rep = connected
    hubspot.hold_calls.set()  # the call is recorded, its answer held: the worker dies waiting
    env = {**os.environ, "DATABASE_URL": crm_app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": crm_app.config["REDIS_URL"], "SECRET_KEY": crm_app.config["SECRET_KEY"],
           "SECRETS_KEY": crm_app.config["SECRETS_KEY"], "HASH_KEY": crm_app.config["HASH_KEY"],
           "DATA_DIR": str(tmp_path), "HUBSPOT_API_URL": hubspot.url, "CRM_TIMEOUT_S": "30"}
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
        call_row(1, "+91 91234 56789", duration=60)]})
    assert response.status_code == 200, response.json
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", "worker", "--queues", "default"],
                              env=env, cwd=Path(__file__).resolve().parents[2], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert hubspot.held.wait(60), "the worker never logged the call"
        os.killpg(worker.pid, signal.SIGKILL)  # after the POST landed, before its answer was read
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert len(hubspot.calls) == 1
    [item] = pushes(crm_app)
    assert (item.status, item.attempts, item.external_id) == ("pending", 1, None) and item.claimed_until
    hubspot.hold_calls.clear()
    hubspot.release.set()  # HubSpot is healthy again
    assert sweep(crm_app) == 0  # the dead worker's lease has not run out
    crm_app.config["NOW"] = lambda: datetime.now(timezone.utc) + timedelta(minutes=20)
    assert sweep(crm_app) == 1
    work(crm_app, queueing)
    [item] = pushes(crm_app)
    assert (item.status, item.attempts) == ("delivered", 2)
    assert len(hubspot.calls) == 1 and item.external_id in hubspot.calls  # found again, not logged twice
    assert hubspot.requests.count(("POST", "/crm/v3/objects/calls/search")) == 1
    assert TOKEN not in str(item.__dict__)
