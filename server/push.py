"""Sending pushes: the only module that imports firebase_admin.

With FCM credentials: FCM HTTP v1 data messages through firebase-admin,
high priority with a personal-data-free notification, TTL and collapse key.
Without (the embedded default): a local sink that records what would have
been sent; `flask push-sink` and /push-sink show it.

Retries are ours, not the SDK's: its HTTP adapter is mounted with
`max_retries=0`, and `deliver()` retries quota/unavailable/internal errors
with exponential backoff and jitter, honouring Retry-After, until the
message's TTL runs out. An unregistered or invalid token (or installation
ID) is removed from the device; an invalid argument is not retried.

A device is addressed by its Firebase installation ID (`fid`) when the app
registered one (FCM's installation-ID mode, where the app gets
`onRegistered(fid)` and no token), else by its registration token.
"""
from __future__ import annotations

import json
import logging
import random
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

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
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


class FcmSender:
    """firebase-admin's messaging client, built once per process and reused
    (one persistent HTTPS connection pool to FCM)."""

    name = "fcm"

    def __init__(self, config):
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
        """Send to `target` (mobile_sync.pushes.PushTarget: its kind, "fid" or "token", and value)."""
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


def deliver(sender, *, target, data: dict, collapse_key: str, ttl_s: int, notification,
            expires_at: datetime, now=lambda: datetime.now(timezone.utc), sleep=time.sleep,
            attempts: int = 0) -> Outcome:
    """Send one message, retrying what may succeed later until it expires.
    `attempts` already made (by a sender that handed the message over)."""
    while True:
        attempts += 1
        outcome, wait = attempt(sender, target=target, data=data, collapse_key=collapse_key, ttl_s=ttl_s,
                                notification=notification, attempts=attempts, expires_at=expires_at, now=now)
        if outcome is not None:
            return outcome
        sleep(wait)
