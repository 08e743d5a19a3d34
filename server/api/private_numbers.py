"""A user's private numbers (GET, POST /me/private-numbers, DELETE …/{id})."""
from __future__ import annotations

from flask import Blueprint, current_app

from mobile_sync import private_numbers
from schemas.lists import ListQuerySchema
from schemas.private_numbers import PrivateNumberCreateSchema, PrivateNumberListSchema, PrivateNumberSchema
from server.api.routing import operation
from server.auth import ANY
from server.clock import now
from server.extensions import db

bp = Blueprint("private_numbers", __name__, url_prefix="/api/v1")

CAP_RESPONSE = {"422": {
    "description": f"`too_many_private_numbers`: the user has {private_numbers.MAX_PRIVATE_NUMBERS} already; "
                   "`invalid_number`: not a number that can be read",
    "content": {"application/json": {"schema": "Error"}}}}


@operation(bp, "/me/private-numbers", "GET", auth=ANY, query=ListQuerySchema, response=PrivateNumberListSchema)
def list_private_numbers(principal, args):
    """Your private numbers, newest first, each as a hint of its last two digits."""
    items, next_page = private_numbers.list_private_numbers(db.session, principal.user, **args)
    return {"items": items, "next_page": next_page}


@operation(bp, "/me/private-numbers", "POST", auth=ANY, body=PrivateNumberCreateSchema,
           response=PrivateNumberSchema, status=201, responses=CAP_RESPONSE)
def mark_private(principal, body):
    """Mark a number private: your calls with it, and what exists only because of them, are deleted; later ones are dropped."""
    marked, _ = private_numbers.mark_private(db.session, user=principal.user, number=body["number"],
                                             hash_key=current_app.config["HASH_KEY"], now=now())
    return marked


@operation(bp, "/me/private-numbers/<int:private_id>", "DELETE", auth=ANY, status=204)
def unmark_private(principal, private_id):
    """Stop treating a number as private (what was deleted stays deleted)."""
    private_numbers.unmark_private(db.session, user=principal.user, private_id=private_id)
