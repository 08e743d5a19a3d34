"""What the service's e-mails may quote of what people typed.

The e-mails are plain text (no HTML part, so markup is shown as typed, never
run); a name or organisation typed with line breaks must not start a new line
of the body (a fake link, a fake sign-off) nor a header.
"""
from __future__ import annotations

import unicodedata

MAX_QUOTED = 200


def one_line(text: str | None) -> str:
    """`text` without control or format characters, its whitespace runs (line
    breaks included, of any script) made one space, cut to 200 characters."""
    kept = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text or "")
    return " ".join(kept.split())[:MAX_QUOTED]
