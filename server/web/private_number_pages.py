"""Your private numbers in the browser (`/account/private-numbers`): each
shown as a hint of its last two digits, added and removed with the API's
own domain functions (`mobile_sync.private_numbers`)."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for

from mobile_sync import private_numbers
from mobile_sync.errors import ServiceError
from server.clock import now
from server.extensions import db


def register(bp) -> None:
    bp.add_url_rule("/account/private-numbers", "private_numbers", private_numbers_page, methods=["GET", "POST"])
    bp.add_url_rule("/account/private-numbers/<int:private_id>/remove", "remove_private_number",
                    remove_private_number, methods=["POST"])


def _page(error: str | None = None, number: str = "", status: int = 200):
    numbers, _ = private_numbers.list_private_numbers(db.session, g.web_user)  # all: at most 1,000
    return render_template("web/private_numbers.html", numbers=numbers, error=error, number=number, cap=private_numbers.MAX_PRIVATE_NUMBERS), status


def private_numbers_page():
    """GET: your private numbers; POST: mark one (your calls with it are deleted)."""
    if request.method == "GET":
        return _page()
    number = request.form.get("number", "").strip()
    if not number or len(number) > 64:
        return _page("Type a phone number (at most 64 characters).", number[:64], 422)
    try:
        _, counts = private_numbers.mark_private(db.session, user=g.web_user, number=number,
                                                 hash_key=current_app.config["HASH_KEY"], now=now())
    except ServiceError as err:
        db.session.rollback()
        return _page(str(err), number, err.status)
    db.session.commit()
    flash(f"The number is private: {counts['calls']} of your calls with it and {counts['leads']} lead(s) made "
          "only from them were deleted; later calls with it are not uploaded.", "ok")
    return redirect(url_for("web.private_numbers"))


def remove_private_number(private_id: int):
    """Calls with the number are kept again from now on (nothing deleted comes back)."""
    private_numbers.unmark_private(db.session, user=g.web_user, private_id=private_id)
    db.session.commit()
    flash("The number is no longer private.", "ok")
    return redirect(url_for("web.private_numbers"))
