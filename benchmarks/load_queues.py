"""The RQ queues of the load run: what is queued, started, failed or
scheduled (`registries`), how a job ended (`job_story`), and the bounded wait
for the queues to empty, sweeping the outbox as the scheduler would (`drain`)."""
from __future__ import annotations

import re
import time

QUEUES = ("push", "default", "maintenance")


def registries(topo) -> dict:
    from rq import Queue
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    redis = topo.redis_client()
    out = {"queued": 0, "started": [], "failed": [], "scheduled": 0}
    for name in QUEUES:
        queue = Queue(name, connection=redis)
        out["queued"] += queue.count
        out["started"] += [(name, job_id) for job_id in StartedJobRegistry(queue=queue).get_job_ids()]
        out["failed"] += [(name, job_id) for job_id in FailedJobRegistry(queue=queue).get_job_ids()]
        out["scheduled"] += ScheduledJobRegistry(queue=queue).count
    return out


def job_story(topo, job_id: str) -> str:
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=topo.redis_client())
    except Exception as err:
        return f"{job_id}: {type(err).__name__}"
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    return f"{job.func_name}{tuple(job.args)}: {_exception_line(text)}"


def _exception_line(text: str) -> str:
    """The last `package.Error: message` line of a traceback."""
    found = re.findall(r"^((?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Found|Detected)\b.*)$(\n\(.*)?",
                       text, re.M)
    if not found:
        return (text.strip().splitlines() or ["?"])[-1][:220]
    line, cause = found[-1]
    if "autoflush" in line and cause:
        line = f"{line.split(': ', 1)[0]}: (in an autoflush) {cause.strip()}"
    return line[:220]


def _wait_idle(topo, org: int, deadline: float, *, sweep: bool) -> dict:
    """Poll until nothing is left to do, nothing has moved for a while, or the
    deadline; with `sweep`, run the outbox sweep whenever the queues are idle
    and uploads are still unprocessed (until sweeping stops helping)."""
    sweeps, swept, last_change, state = 0, 0, time.monotonic(), None
    pending_at_sweeps: list[int] = []
    while True:
        pending = topo.scalar("SELECT count(*) FROM sync_uploads WHERE organization_id = :o "
                              "AND processed_at IS NULL", o=org)
        queued_pushes = topo.scalar("SELECT count(*) FROM push_messages WHERE organization_id = :o "
                                    "AND status = 'queued'", o=org)
        try:
            jobs = registries(topo)
        except Exception:  # Redis still coming back
            jobs = {"queued": -1, "started": [("?", "?")], "scheduled": 0}
        new_state = (pending, queued_pushes, jobs["queued"], len(jobs["started"]), jobs["scheduled"])
        if new_state != state:
            state, last_change = new_state, time.monotonic()
        if state == (0, 0, 0, 0, 0):
            break
        idle = jobs["queued"] == 0 and jobs["scheduled"] == 0
        useless = len(pending_at_sweeps) >= 3 and pending >= pending_at_sweeps[-3]
        if sweep and idle and pending and not useless and time.monotonic() - last_change > 1.0:
            swept += topo.sweep_outbox(min_age=0)
            sweeps += 1
            pending_at_sweeps.append(pending)
            last_change = time.monotonic()
        # Queues idle and nothing moving: what is left will not move by itself.
        if idle and time.monotonic() - last_change > (8 if not jobs["started"] else 20):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return {"state": state, "sweeps": sweeps, "swept": swept}


def drain(topo, org: int, *, faults: bool, timeout: float, log) -> dict:
    """Wait (bounded) for the queues; with faults, sweep the outbox as the
    scheduler would. Then one more `flask sweep-outbox` (in the normal run it
    must find nothing) and wait again for what it queued."""
    started, deadline = time.monotonic(), time.monotonic() + timeout
    first = _wait_idle(topo, org, deadline, sweep=faults)
    seconds = time.monotonic() - started
    state = first["state"]
    log(f"drained in {seconds:.1f}s: pending uploads {state[0]}, queued pushes {state[1]}, jobs queued "
        f"{state[2]}, started {state[3]}, scheduled {state[4]}; sweeps: {first['sweeps']} ({first['swept']} uploads)")
    final_sweep = topo.sweep_outbox(min_age=0)
    if final_sweep:
        again = _wait_idle(topo, org, max(deadline, time.monotonic() + 60), sweep=False)
        log(f"the final sweep queued {final_sweep} uploads; then: {again['state']}")
    return {"seconds": seconds, "sweeps": first["sweeps"], "swept": first["swept"], "final_sweep": final_sweep}
