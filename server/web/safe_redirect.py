"""Where a page may send the browser after a form: a path on this site only."""
from __future__ import annotations

import unicodedata
from urllib.parse import unquote

from flask import url_for


def safe_next(value: str | None) -> str:
    """A redirect target: a path on this site, else the review queue.

    Browsers drop tabs and newlines inside a URL and read a backslash as a
    slash, so `/<tab>/evil.com` would leave the site, and a newline cannot go
    in a header at all. The target is judged as given and percent-decoded:
    a control or space character, a backslash or `//` in its path, or a
    control character or backslash in its query, sends to the queue instead.
    """
    value = (value or "").rstrip("?")
    path, _, query = value.partition("?")
    decoded_path, decoded_query = fully_unquoted(path), fully_unquoted(query)
    if (not path.startswith("/") or decoded_path is None or decoded_query is None
            or any(unsafe_in_url(ch) for ch in value + decoded_path) or "//" in decoded_path
            or any(unsafe_in_url(ch, space_ok=True) for ch in decoded_query)):
        return url_for("web.review")
    return value


def fully_unquoted(text: str, rounds: int = 4) -> str | None:
    """`text` percent-decoded until it no longer changes; None if it keeps changing."""
    for _ in range(rounds):
        decoded = unquote(text)
        if decoded == text:
            return text
        text = decoded
    return None


def unsafe_in_url(ch: str, space_ok: bool = False) -> bool:
    """A backslash, or a control, format or space character (of any script)."""
    kind = unicodedata.category(ch)[0]
    return ch == "\\" or kind == "C" or (kind == "Z" and not (space_ok and ch == " "))
