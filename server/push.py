"""Sending pushes: the only module that imports firebase_admin.

With FCM credentials: FCM HTTP v1 data messages through firebase-admin,
high priority with a personal-data-free notification, TTL and collapse key.
Without (the embedded default): a local sink that records what would have
been sent; `flask push-sink` and /push-sink show it.

Retries are ours, not the SDK's: its HTTP adapter is mounted with
`max_retries=0`, and `attempt()` asks for another try after quota/unavailable/
internal errors, with exponential backoff and jitter, honouring Retry-After,
until the message's TTL runs out. An unregistered or invalid token (or
installation ID) is removed from the device; an invalid argument is not retried.

Every recorded push is sent by `send_recorded_push` (claim → no target →
attempt → record), whoever sends it: the web process's dispatcher
(`server.push_dispatch`), RQ's `send_push` job, or that job run inline in
the embedded mode. They differ only in how a statement reaches the database
and in where a retry waits.

A device is addressed by its Firebase installation ID (`fid`) when the app
registered one (FCM's installation-ID mode, where the app gets
`onRegistered(fid)` and no token), else by its registration token.
"""
from __future__ import annotations

import json
import logging
import random
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from flask import current_app
from sqlalchemy.exc import DBAPIError

# Called through the module (`push_store.claim_push`), as a test replaces it to take the database away.
from mobile_sync.store import push_messages as push_store
from mobile_sync.push_payloads import NOTIFICATIONS
from server.clock import now as service_now
from server.extensions import db
from server.metrics import PUSH_SENT
from server.transactions import commit_with_retries

log = logging.getLogger(__name__)
# An app not yet in installation-ID mode registers an FCM registration token,
# which FCM's v1 API still takes as `token`; firebase-admin 7.7 warns in favour
# of installation IDs, which are sent as `fid` when the device has one.
warnings.filterwarnings("ignore", message="Message.token is deprecated", category=DeprecationWarning)

RETRYABLE = "retryable"
TOKEN_GONE = "token_gone"
REFUSED = "refused"


@dataclass
class PushFailure(Exception):
    kind: str            # RETRYABLE, TOKEN_GONE or REFUSED
    code: str            # e.g. "UNREGISTERED", "QUOTA_EXCEEDED"
    retry_after: float | None = None


def _retry_after(err) -> float | None:
    response = getattr(err, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


class FcmSender:
    """firebase-admin's messaging client, built once per process and reused
    (one persistent HTTPS connection pool to FCM)."""

    name = "fcm"

    def __init__(self, config):
        # Imported here, not at the top: firebase-admin (and google-auth) take
        # a while to import and only a process with FCM credentials needs them.
        import firebase_admin
        import requests
        from firebase_admin import credentials, messaging

        self._messaging = messaging
        self._exceptions = firebase_admin.exceptions
        source = config["FCM_CREDENTIALS"]
        options = {"httpTimeout": config.get("FCM_HTTP_TIMEOUT", 5)}
        if config.get("FCM_PROJECT_ID"):
            options["projectId"] = config["FCM_PROJECT_ID"]
        if source.startswith("token:"):
            # A fixed OAuth token, for a local fake FCM server in tests and benchmarks.
            import google.oauth2.credentials

            credential = google.oauth2.credentials.Credentials(token=source[len("token:"):])
        elif source.lstrip().startswith("{"):
            credential = credentials.Certificate(json.loads(source))
        else:
            credential = credentials.Certificate(source)
        # A unique name per sender: id() values are reused once an object is gone.
        self.app = firebase_admin.initialize_app(credential, options=options, name=f"callsync-{uuid.uuid4()}")
        service = messaging._get_messaging_service(self.app)
        if config.get("FCM_URL"):
            # A local fake FCM (tests, benchmarks). Private attribute of the
            # pinned firebase-admin; tests/jobs/test_push_delivery.py checks it.
            service._fcm_url = config["FCM_URL"].format(service._project_id)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        session = service._client.session
        for prefix in ("https://", "http://", "https://fcm.googleapis.com"):
            session.mount(prefix, adapter)
        # requests reads the proxy and CA-bundle variables from the environment
        # on every request (~0.4 ms of CPU per push, a third of a send): read
        # them once, for the one URL this session calls.
        settings = session.merge_environment_settings(service._fcm_url, {}, None, None, None)
        session.proxies, session.verify = settings["proxies"], settings["verify"]
        session.trust_env = False

    def send(self, target, data: dict[str, str], *, collapse_key: str, ttl_s: int, notification) -> str:
        """Send to `target` (mobile_sync.store.push_messages.PushTarget: its kind, "fid" or "token", and value)."""
        m = self._messaging
        android_notification = None
        if notification:
            android_notification = m.AndroidNotification(title=notification[0], body=notification[1],
                                                         tag=collapse_key, channel_id="callsync")
        message = m.Message(
            fid=target.value if target.kind == "fid" else None,
            token=target.value if target.kind == "token" else None, data=data,
            android=m.AndroidConfig(priority="high", ttl=ttl_s, collapse_key=collapse_key,
                                    notification=android_notification))
        try:
            return m.send(message, app=self.app)
        except (m.UnregisteredError, m.SenderIdMismatchError) as err:
            raise PushFailure(TOKEN_GONE, type(err).__name__)
        except self._exceptions.InvalidArgumentError as err:
            if any(word in str(err).lower() for word in ("token", "installation")):
                raise PushFailure(TOKEN_GONE, "INVALID_TOKEN")
            raise PushFailure(REFUSED, "INVALID_ARGUMENT")
        except (m.QuotaExceededError, self._exceptions.UnavailableError, self._exceptions.InternalError,
                self._exceptions.DeadlineExceededError, self._exceptions.ResourceExhaustedError) as err:
            raise PushFailure(RETRYABLE, type(err).__name__, _retry_after(err))
        except self._exceptions.FirebaseError as err:
            raise PushFailure(REFUSED, type(err).__name__)


class SinkSender:
    """The embedded default: nothing leaves the machine; the push record is the sink."""

    name = "sink"

    def send(self, target, data, *, collapse_key, ttl_s, notification) -> str:
        return "sink"


def sender_for(app):
    """The process's sender, built on first use and kept for the process."""
    sender = app.extensions.get("push_sender")
    if sender is None:
        sender = FcmSender(app.config) if app.config.get("FCM_CREDENTIALS") else SinkSender()
        app.extensions["push_sender"] = sender
    return sender


def backoff(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


@dataclass
class Outcome:
    status: str
    attempts: int
    error: str | None = None
    message_id: str | None = None


def attempt(sender, *, target, data: dict, collapse_key: str, ttl_s: int, notification, attempts: int,
            expires_at: datetime, now=lambda: datetime.now(timezone.utc)) -> tuple[Outcome | None, float]:
    """Send attempt number `attempts` (1, 2, ...). Returns (the final outcome,
    0) or (None, seconds to wait before the next attempt) when the failure may
    pass and the message has not expired by then."""
    try:
        message_id = sender.send(target, data, collapse_key=collapse_key, ttl_s=ttl_s, notification=notification)
        return Outcome("sent" if sender.name == "fcm" else "sink", attempts, None, message_id), 0.0
    except PushFailure as failure:
        if failure.kind == TOKEN_GONE:
            return Outcome("token_removed", attempts, failure.code), 0.0
        if failure.kind == REFUSED:
            return Outcome("failed", attempts, failure.code), 0.0
        wait = max(failure.retry_after or 0.0, backoff(attempts))
        if now() + timedelta(seconds=wait) >= expires_at:
            return Outcome("expired", attempts, failure.code), 0.0
        log.info("push retry in %.2fs after %s", wait, failure.code)
        return None, wait


SKIPPED = "skipped"          # another sender has the message, or it is done
RETRY_LATER = "retry_later"  # an attempt may succeed later: send again after `PushSend.retry_in`


class ClaimFailed(Exception):
    """The claim did not run (the database away): the message is still
    queued, for another sender or the outbox sweep."""


@dataclass
class PushSend:
    """One recorded message on its way out, from its claim to its outcome."""

    message_id: int
    claimed: dict | None = None  # what `claim_push` returned: what to send, and where
    attempts: int = 0            # made so far (by senders that handed it over too)
    retry_in: float = 0.0        # after RETRY_LATER: seconds to wait before the next attempt


def send_recorded_push(send: PushSend, run, *, sleep=None) -> str:
    """Send one recorded push: claim it, record a device with nothing to
    address as failed, attempt, record the outcome (dropping a token or
    installation ID FCM says is gone).

    `run(work)` runs `work(connection)`, one statement, committed: in the
    session (`server.transactions.commit_once`) or on the dispatcher's kept
    connection. With `sleep`, a retry waits here until the TTL runs out;
    without, the call returns RETRY_LATER with `send.retry_in` set, and the
    caller calls again with the same `send` when that is due. Returns the
    status recorded, SKIPPED or RETRY_LATER; raises ClaimFailed when the
    claim could not run."""
    if send.claimed is None:
        try:
            claimed = run(lambda connection: push_store.claim_push(connection, send.message_id))
        except Exception as err:
            raise ClaimFailed(send.message_id) from err
        if claimed is None:
            return SKIPPED
        if not claimed["target"]:  # neither a token nor an installation ID (any more)
            _record(run, send.message_id, Outcome("failed", 0, "NO_TOKEN"), device_id=None, target=None)
            return "failed"
        send.claimed, send.attempts = claimed, claimed["attempts"]
    claimed = send.claimed
    sender = sender_for(current_app)
    while True:
        send.attempts += 1
        outcome, wait = attempt(sender, target=claimed["target"], data=claimed["data"],
                                collapse_key=claimed["collapse_key"], ttl_s=claimed["ttl_s"],
                                notification=NOTIFICATIONS.get(claimed["kind"]), attempts=send.attempts,
                                expires_at=claimed["expires_at"], now=service_now)
        if outcome is not None:
            break
        if sleep is None:
            send.retry_in = wait
            return RETRY_LATER
        sleep(wait)
    _record(run, send.message_id, outcome, device_id=claimed["device_id"], target=claimed["target"])
    PUSH_SENT.labels(claimed["kind"], outcome.status).inc()
    log.info("push %s: %s after %s attempt(s)", send.message_id, outcome.status, outcome.attempts)
    return outcome.status


def _record(run, message_id: int, outcome: Outcome, *, device_id: int | None, target) -> None:
    """Write an outcome, even if the database is briefly away: FCM has
    answered, and a delivered push must not later read 'expired'. One
    statement through `run`; a dropped token (two statements, one
    transaction), or `run` failing, takes the session, with retries."""
    def write(connection):
        push_store.record_push_outcome(connection, message_id, status=outcome.status, attempts=outcome.attempts,
                                       error=outcome.error, fcm_message_id=outcome.message_id, now=service_now(),
                                       device_id=device_id, target=target)

    if outcome.status != "token_removed":
        try:
            run(write)
            return
        except (DBAPIError, db.engine.dialect.loaded_dbapi.Error) as err:
            log.warning("push %s: outcome not written at once (%s); retrying", message_id, type(err).__name__)
    commit_with_retries(lambda: write(db.session), attempts=8)
