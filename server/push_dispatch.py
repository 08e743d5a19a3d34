"""Ringing pushes sent from the web process itself, right after the commit.

While the phone rings the push has a second or two to be of use. Through RQ
it paid for an enqueue in the request, a worker's poll and RQ's bookkeeping
(about a third of the worker's CPU per push). Here each web process keeps a
few threads (`PUSH_DISPATCH_THREADS`) that take the message ids once the
request has committed and send each through `server.push.send_recorded_push`
(claim, attempt, record; the path RQ's job takes too), on the process's one
firebase-admin app (one persistent HTTP connection pool to FCM).

The safety net stays as it was. A message the dispatcher does not take (not
enabled, backlog full, stopping, the database away at the claim) goes to RQ's
`send_push`; one left 'queued' by a process that died is found by the outbox
sweep; the claim means two senders never both send it, and a message claimed
by a sender that died is never resent (at most once). Retries (quota,
unavailable) wait in a timer queue here, not in a sleeping thread, so a slow
message never holds up the next ring.
"""
from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import threading
import time
from datetime import timedelta

from flask import current_app

from mobile_sync.store.push_messages import release_push, run_for_sender
from server.extensions import db
from server.jobs import send_push
from server.process_threads import made, one_per_app
from server.push import RETRY_LATER, ClaimFailed, PushSend, send_recorded_push
from server.queue import JOB_DEFAULTS, enqueue, rq_queue

log = logging.getLogger(__name__)

MAX_PENDING = 512          # messages waiting or in flight per process before RQ takes the overflow


def _run_statements(work):
    """How a sender thread's statements reach the database (`run_for_sender`)."""
    return run_for_sender(db.session, work)


class PushDispatcher:
    """A few sender threads and a timer queue, per web process."""

    def __init__(self, app, threads: int, max_pending: int = MAX_PENDING):
        self.app = app
        self.thread_count = threads
        self.max_pending = max_pending
        self._cond = threading.Condition()
        self._due: list = []              # heap of (monotonic time due, sequence, task)
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._closing = False             # no new work
        self._stopped = False             # threads exit

    # -- taking work ---------------------------------------------------------------------
    def submit(self, message_ids) -> bool:
        """Send these committed messages now. False when this dispatcher cannot
        take them (stopping, or too much waiting): the caller queues them to RQ."""
        ids = list(message_ids)
        with self._cond:
            if self._closing or len(self._due) + self._busy + len(ids) > self.max_pending:
                return False
            if not self._threads:
                self._start()
            due = time.monotonic()
            for message_id in ids:
                heapq.heappush(self._due, (due, next(self._seq), PushSend(message_id)))
            self._cond.notify(len(ids))
        return True

    def _start(self) -> None:
        # Started on first use, so in the process that serves (after gunicorn's fork).
        for index in range(self.thread_count):
            thread = threading.Thread(target=self._run, name=f"push-dispatch-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        atexit.register(self.close)

    def _later(self, task: PushSend, wait: float) -> None:
        with self._cond:
            if not self._stopped:
                heapq.heappush(self._due, (time.monotonic() + wait, next(self._seq), task))
                self._cond.notify()
                return
        self._hand_back([(time.monotonic() + wait, 0, task)])  # stopped while this attempt was under way

    # -- the sender threads --------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    if self._due and self._due[0][0] <= time.monotonic():
                        task = heapq.heappop(self._due)[2]
                        self._busy += 1
                        break
                    self._cond.wait(max(0.0, self._due[0][0] - time.monotonic()) if self._due else None)
            try:
                with self.app.app_context():
                    self._step(task)
            except Exception as err:  # never let a thread die; the message's record says where it stands
                log.warning("push %s: dispatcher error (%s)", task.message_id, type(err).__name__)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _step(self, task: PushSend) -> None:
        """One attempt (after the claim, the first time); a retry waits in the timer queue."""
        try:
            status = send_recorded_push(task, _run_statements)
        except ClaimFailed as err:
            log.warning("push %s: could not claim it (%s); RQ takes it", task.message_id,
                        type(err.__cause__).__name__)
            self._hand_to_rq(task.message_id)
            return
        if status == RETRY_LATER:
            self._later(task, task.retry_in)

    def _hand_to_rq(self, message_id: int, delay: float = 0.0) -> None:
        if delay <= 0:
            enqueue(send_push, message_id, queue="push")
            return
        try:
            rq_queue("push").enqueue_in(timedelta(seconds=delay), send_push, message_id, **JOB_DEFAULTS)
        except Exception as err:  # the outbox sweep resends a queued message
            log.warning("push %s: could not queue it (%s); the sweep will", message_id, type(err).__name__)

    # -- stopping ------------------------------------------------------------------------
    def close(self, timeout: float = 3.0) -> None:
        """Stop taking work; finish what is due within `timeout`; hand the rest
        (a retry waiting out Retry-After) back to RQ with its attempts."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (self._busy or (self._due and self._due[0][0] <= deadline)):
                self._cond.wait(0.05)
            left = [entry for entry in self._due]
            self._due.clear()
            self._stopped = True
            self._cond.notify_all()
        if left:
            self._hand_back(left)
            log.info("push dispatcher stopped; %s message(s) handed to RQ", len(left))

    def _hand_back(self, entries) -> None:
        with self.app.app_context():
            for due, _, task in entries:
                try:
                    if task.claimed is not None:
                        release_push(db.session, task.message_id, task.attempts)
                        db.session.commit()
                    self._hand_to_rq(task.message_id, delay=due - time.monotonic())
                except Exception as err:
                    db.session.rollback()
                    log.warning("push %s: not handed over at shutdown (%s)", task.message_id, type(err).__name__)


def dispatcher_for(app) -> PushDispatcher | None:
    """This process's dispatcher: with Redis (production) and PUSH_DISPATCH_THREADS > 0.
    Without Redis (the embedded mode) pushes are sent in process after the
    commit anyway."""
    threads = app.config.get("PUSH_DISPATCH_THREADS") or 0
    if not app.config.get("REDIS_URL") or threads <= 0:
        return None
    return one_per_app(app, "push_dispatcher", lambda: PushDispatcher(app, threads))


def send_now(message_ids) -> None:
    """Committed push messages to send now: this process's dispatcher, else RQ
    (or, in the embedded mode, inline)."""
    ids = list(message_ids)
    if not ids:
        return
    dispatcher = dispatcher_for(current_app._get_current_object())
    if dispatcher is not None and dispatcher.submit(ids):
        return
    for message_id in ids:
        enqueue(send_push, message_id, queue="push")


def close_dispatchers(timeout: float = 3.0) -> None:
    """At a worker's exit (gunicorn's worker_exit hook)."""
    for dispatcher in made("push_dispatcher"):
        dispatcher.close(timeout)
