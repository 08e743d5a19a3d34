"""Helpers that run threads for the life of a web or worker process (the push
dispatcher, the audit writer): one per app, made on first use, and every one
made in this process found again at its exit to be closed."""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")
_LOCK = threading.Lock()
_MADE: dict[str, list] = {}


def one_per_app(app, name: str, make: Callable[[], T]) -> T:
    """`app.extensions[name]`, made by `make()` the first time (once, even
    when several request threads ask at the same moment)."""
    found = app.extensions.get(name)
    if found is None:
        with _LOCK:
            found = app.extensions.get(name)
            if found is None:
                found = app.extensions[name] = make()
                _MADE.setdefault(name, []).append(found)
    return found


def made(name: str) -> list:
    """Every helper of that name made in this process (for closing at exit)."""
    return list(_MADE.get(name, ()))
