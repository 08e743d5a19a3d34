"""The naive caller-ID baseline served the same way as the real look-up, for
`benchmarks/caller_id.py`: the service's own app plus one benchmark-only
operation, `GET /api/v1/caller-id-like?number=`, that goes through the same
gunicorn, the same `operation` (authentication, request counting, query
schema, access audit, serialisation) and the same normalisation and answer
building as `GET /api/v1/caller-id`. Only the statement differs: the index
probes are replaced by a `LIKE '%<last digits>'` scan of the organisation's
phone index, the way a naive implementation finds a number written any which
way. So the two requests' times differ by what the index saves, end to end.

    gunicorn ... "benchmarks.like_baseline:create_app()"

Never part of the service: only the benchmark starts it.
"""
from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import Integer, String, text

from mobile_sync import caller_id as lookup
from mobile_sync.phones import normalize_number, region_for
from schemas.caller_id import CallerIdQuerySchema, CallerIdSchema
from server.models.base import UTCDateTime

# The same two answers (the exact number, else up to 50 numbers with its last
# digits) from one LIKE scan instead of two index probes.
_SCAN = """    SELECT record_type, record_id, e164 FROM (
        SELECT record_type, record_id, e164, bool_or(e164 = :e164) OVER () AS has_exact
        FROM record_phones WHERE organization_id = :org AND e164 LIKE '%' || :suffix
    ) AS hits
    WHERE e164 = :e164 OR NOT has_exact"""


def like_statement():
    sql = lookup._LOOKUP.element.text  # the TextClause under .columns()
    if lookup.PROBES not in sql:
        raise RuntimeError("mobile_sync.caller_id._LOOKUP changed: update benchmarks/like_baseline.py")
    return text(sql.replace(lookup.PROBES, _SCAN)).columns(
        record_type=String, record_id=Integer, e164=String, name=String, company=String, source=String,
        owner_id=Integer, owner=String, last_spoken_at=UTCDateTime, last_call_type=Integer, last_note=String,
        lead_status=String)


def create_app():
    from server import create_app as create_service
    from server.api.routing import operation
    from server.auth import ANY
    from server.extensions import db

    app = create_service()
    statement = like_statement()
    bp = Blueprint("benchmark_like", __name__, url_prefix="/api/v1")

    def _audit_lookup(result, path_args):
        match = result["match"] or {}
        return ("caller_id.lookup", match.get("record_type"), match.get("record_id"), len(result["candidates"]))

    @operation(bp, "/caller-id-like", "GET", auth=ANY, query=CallerIdQuerySchema, response=CallerIdSchema,
               audit=_audit_lookup, serialized=True)
    def caller_id_like(principal, args):
        """Benchmark baseline: caller ID through a LIKE scan."""
        user = principal.user
        number = normalize_number(args["number"], region_for(user.region, user.organization.region))
        if not number.matchable:
            return {"number": None, "number_status": number.status, "match": None, "candidates": []}
        params = lookup.lookup_params(number, org_id=principal.organization_id, user_id=user.id,
                                      hash_key=current_app.config["HASH_KEY"])
        rows = db.session.connection().execute(statement, params).all()
        return lookup.caller_context(number, rows, user.id)

    app.register_blueprint(bp)
    return app
