"""Logging that never writes client data.

The habit is to log ids only; this is the safety net. It rewrites
anything that looks like a phone number, an e-mail address or a bearer token,
in the message and its arguments, before any handler sees the record.
"""
from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Seven or more digits, possibly separated by spaces, dots, dashes or brackets,
# optionally led by + : phone numbers in any common notation.
_PHONE = re.compile(r"(?<!\w)\+?\(?\d(?:[\s().-]{0,2}\d){6,}(?!\w)")
_TOKEN = re.compile(r"(?i)(bearer\s+|token[=:]\s*)[\w.~+/-]+=*")
# The service's own user, device, API-key and invite tokens (mobile_sync.tokens
# prefixes), wherever they appear: in a dict's repr, a URL, a bare argument.
_SERVICE_TOKEN = re.compile(r"(?<![A-Za-z0-9])cs[udki]_[\w-]{8,}")


def redact(text: str) -> str:
    text = _TOKEN.sub(r"\1[redacted]", text)
    text = _SERVICE_TOKEN.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[number]", text)


_installed = False


def _redacting_factory(base_factory):
    def factory(*args, **kwargs):
        record = base_factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the log line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            # Tracebacks quote exception messages; keep only the type.
            record.msg += f" [{record.exc_info[0].__name__}]"
            record.exc_info = None
            record.exc_text = None
        return record

    return factory


def configure_logging(level: str = "INFO") -> None:
    """Redact every log record at creation, for every logger and handler.

    A record factory (rather than a handler filter) also covers handlers added
    later, such as gunicorn's or a test's capture handler. Idempotent.
    """
    global _installed
    if not _installed:
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
        _installed = True
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's request log prints the query string; ours logs paths only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
