"""`flask export`, `flask import-export`, `flask erase` (being built)."""
from __future__ import annotations


def register_data_cli(app) -> None:
    pass
