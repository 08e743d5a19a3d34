"""Outgoing e-mail: SMTP when SMTP_URL is set, else a local outbox folder.

SMTP_URL forms: smtp://host:25, smtp+starttls://user:pass@host:587,
smtps://user:pass@host:465.
"""
from __future__ import annotations

import logging
import smtplib
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)
MAIL_SETTINGS = ("MAIL_FROM", "SMTP_URL", "OUTBOX_DIR")
_senders: ThreadPoolExecutor | None = None
_senders_lock = threading.Lock()


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    # A header is one line: a name typed with line breaks would make the e-mail
    # library refuse the message (and must never start another header).
    msg["Subject"] = " ".join(subject.split())
    msg["Message-ID"] = f"<{uuid.uuid4()}@callsync>"
    msg.set_content(body)
    return msg


def _send_smtp(url: str, msg: EmailMessage) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, port or 465, timeout=10)
    else:
        client = smtplib.SMTP(host, port or 25, timeout=10)
    with client:
        if parts.scheme == "smtp+starttls":
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(msg)


def send_email(config, *, to: str, subject: str, body: str, purpose: str) -> str:
    """Deliver one e-mail; return "sent", "outbox" or "failed". Never raises."""
    msg = _message(config["MAIL_FROM"], to, subject, body)
    if config.get("SMTP_URL"):
        try:
            _send_smtp(config["SMTP_URL"], msg)
        except (OSError, smtplib.SMTPException) as err:
            log.warning("e-mail (%s) not delivered: %s", purpose, type(err).__name__)
            return "failed"
        log.info("e-mail (%s) handed to SMTP", purpose)
        return "sent"
    outbox = Path(config["OUTBOX_DIR"])
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{uuid.uuid4().hex}.eml"
    path.write_bytes(bytes(msg))
    path.chmod(0o600)
    log.info("e-mail (%s) written to the outbox as %s", purpose, path.name)
    return "outbox"


def send_email_soon(config, *, to: str, subject: str, body: str, purpose: str) -> Future:
    """Deliver one e-mail from a background thread, so the answer does not wait
    for SMTP: a password-reset request takes as long whether or not an e-mail
    goes out. Call it after the commit; the e-mail reads nothing from the database."""
    global _senders
    with _senders_lock:
        if _senders is None:
            _senders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")
    settings = {key: config.get(key) for key in MAIL_SETTINGS}
    return _senders.submit(send_email, settings, to=to, subject=subject, body=body, purpose=purpose)
