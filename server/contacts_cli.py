"""`flask import-contacts` (being built)."""
from __future__ import annotations


def register_contacts_cli(app) -> None:
    pass
