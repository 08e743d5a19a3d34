"""CRM records written straight into a database (fault tests, benchmarks):
contacts and leads with their rows in the phone index, so uploaded calls
have something to match."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert

SUFFIX_DIGITS = 7  # as mobile_sync.phones.SUFFIX_DIGITS


def seed_records(engine, organization_id: int, people, record_type: str) -> dict[str, int]:
    """Insert one contact or lead per person (with `.name`, `.company`,
    `.e164`, `.national`) and its phone-index row; return {e164: record id}."""
    from mobile_sync.store.models import Contact, Lead, RecordPhone

    if not people:
        return {}
    model = Contact if record_type == "contact" else Lead
    now = datetime.now(timezone.utc)
    rows = [{"organization_id": organization_id, "name": p.name, "company": p.company, "created_at": now,
             "updated_at": now, **({"phone": p.e164, "source": "seeded", "status": "approved", "calls_count": 0}
                                   if model is Lead else {})} for p in people]
    with engine.begin() as conn:
        ids = conn.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows).scalars().all()
        conn.execute(insert(RecordPhone), [
            {"organization_id": organization_id, "record_type": record_type, "record_id": record_id,
             "e164": p.e164, "suffix": p.national[-SUFFIX_DIGITS:], "raw": p.e164}
            for p, record_id in zip(people, ids)])
    return {p.e164: record_id for p, record_id in zip(people, ids)}
