"""Realistic Android rows for tests."""
from __future__ import annotations

BASE_MS = 1_763_622_000_000


def call_row(i: int, number: str = "098765 43210", *, type_: int = 1, duration: int = 75, presentation: int = 1,
             countryiso: str | None = "IN", name: str | None = None, via: str = "", date: int | None = None) -> dict:
    return {"_id": i, "number": number, "date": date if date is not None else BASE_MS + i * 60_000,
            "duration": duration, "type": type_, "presentation": presentation, "countryiso": countryiso,
            "name": name, "via_number": via, "subscription_id": "8991000000000000001",
            "last_modified": (date if date is not None else BASE_MS + i * 60_000) + 75_000}


def contact_row(contact_id: int, name: str, *numbers: str, updated: int = BASE_MS, emails=(), company=None) -> dict:
    return {"contact_id": contact_id, "lookup": f"0r{contact_id}-2C", "display_name": name, "last_updated": updated,
            "phones": [{"number": n, "normalized_number": None, "type": 2, "label": None} for n in numbers],
            "emails": list(emails), "organization": company}
