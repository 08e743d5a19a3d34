"""`flask backup`, `flask restore` (being built)."""
from __future__ import annotations


def register_backup_cli(app) -> None:
    pass
