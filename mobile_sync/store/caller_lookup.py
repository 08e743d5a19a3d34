"""Caller ID's look-up: one statement, one round trip, on the ringing path.
The exact number in the phone index, else its suffix; each joined to its
record and owner; plus the rep's own phone-book entry."""
from __future__ import annotations

from collections import namedtuple

from sqlalchemy import Integer, String, text

from mobile_sync.store.bulk_sql import driver_rows
from mobile_sync.store.models.base import UTCDateTime

# The index probes: the exact number, else up to 50 numbers sharing its last
# digits. (benchmarks/caller_id.py times the same look-up as a LIKE scan inside PostgreSQL.)
PROBES = """    SELECT record_type, record_id, e164 FROM (
        SELECT record_type, record_id, e164 FROM record_phones WHERE organization_id = :org AND e164 = :e164
    ) AS exact
    UNION ALL
    SELECT record_type, record_id, e164 FROM (
        SELECT record_type, record_id, e164 FROM record_phones
        WHERE organization_id = :org AND suffix = :suffix AND e164 <> :e164
          AND NOT EXISTS (SELECT 1 FROM record_phones WHERE organization_id = :org AND e164 = :e164)
        LIMIT 50
    ) AS by_suffix"""

# One round trip: the exact probe, else the suffix probe (at most 50 rows), each
# joined to its record and owner, plus the rep's phone-book entry. Built once;
# run on the connection, so no ORM objects are made on the ringing path. Each
# probe row joins exactly one of contacts, leads and users (by its
# record_type), so COALESCE only reads that record's columns; which record
# wins when several hold a number is decided once, in Python
# (`mobile_sync.caller_id`, by `record_kinds.RANK`).
_LOOKUP = text(f"""
SELECT p.record_type, p.record_id, p.e164,
       COALESCE(c.name, l.name, u.name) AS name, COALESCE(c.company, l.company) AS company,
       COALESCE(c.source, l.source) AS source, COALESCE(c.owner_id, l.owner_id) AS owner_id, o.name AS owner,
       COALESCE(c.last_spoken_at, l.last_spoken_at) AS last_spoken_at,
       COALESCE(c.last_call_type, l.last_call_type) AS last_call_type,
       COALESCE(c.last_note, l.last_note) AS last_note, l.status AS lead_status
FROM (
{PROBES}
) AS p
LEFT JOIN contacts c ON p.record_type = 'contact' AND c.id = p.record_id AND c.organization_id = :org
LEFT JOIN leads l ON p.record_type = 'lead' AND l.id = p.record_id AND l.organization_id = :org
LEFT JOIN users u ON p.record_type = 'user' AND u.id = p.record_id AND u.organization_id = :org
LEFT JOIN users o ON o.id = COALESCE(c.owner_id, l.owner_id)
UNION ALL
SELECT 'phone_contact', NULL, :e164, pc.display_name, pc.company, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM (SELECT contact_id FROM phonebook_numbers WHERE user_id = :user AND number_hash = :book_hash LIMIT 1) AS pn
JOIN phonebook_contacts pc ON pc.id = pn.contact_id
""").columns(record_type=String, record_id=Integer, e164=String, name=String, company=String, source=String,
             owner_id=Integer, owner=String, last_spoken_at=UTCDateTime, last_call_type=Integer,
             last_note=String, lead_status=String)


_Row = namedtuple("_Row", [c.name for c in _LOOKUP.selected_columns])


def lookup_rows(session, params: dict) -> list:
    """The look-up's rows (namedtuples) for `lookup_params` (mobile_sync.caller_id)."""
    # The hot path of every ring: on PostgreSQL the statement goes straight to
    # the driver's cursor (psycopg prepares it after a few runs). SQLAlchemy's
    # execution and result layers cost ~0.2 ms of CPU here, a fifth of the
    # whole look-up's cost beyond an authenticated no-op.
    return [_Row(*row) for row in driver_rows(session.connection(), _LOOKUP, params)]
