"""CRM contacts: CRUD and CSV import (being built)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("contacts", __name__, url_prefix="/api/v1")
