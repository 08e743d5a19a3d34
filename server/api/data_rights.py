"""Export and erasure (being built)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("data_rights", __name__, url_prefix="/api/v1")
