"""What the manager's page tests share: the three numbers the queue's leads
come from, and small readers of the pages and the API."""
from __future__ import annotations

import re

ASHA, KIRAN, NEW = "+91 98765 43210", "+91 91234 56789", "+91 90000 12345"


def lead_ids(client, admin) -> dict[str, int]:
    """Lead ids by E.164 number, through the API."""
    items = admin.get("/api/v1/leads").json["items"]
    return {item["phone"]: item["id"] for item in items}


def api_lead(admin, lead_id: int) -> dict:
    response = admin.get(f"/api/v1/leads/{lead_id}")
    assert response.status_code == 200, response.json
    return response.json


def rows_on(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="lead-(\d+)"', html)]
