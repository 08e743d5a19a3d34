"""Sign-up, login, users, invites and API keys."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from mobile_sync.accounts import effective_timezone
from mobile_sync.roles import ROLES
from schemas.fields import ROLE, Email, NonEmptyText, Region, Text
from schemas.lists import ListQuerySchema
from schemas.settings import BusinessHoursSchema, iana_zone

PASSWORD = Text(required=True, load_only=True, validate=validate.Length(min=10, max=256))


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": "Error"}}}


TOO_MANY = ("`too_many_attempts`, with `Retry-After`: this client network (an IPv4 address or an IPv6 /64) "
            "has used up its failed attempts, failed logins and sign-ups for taken addresses together "
            "(`LOGIN_MAX_FAILURES_PER_ADDRESS` per `LOGIN_WINDOW_S`)")
SIGNUP_RESPONSES = {
    "409": _error_response(
        "`email_taken`: the address already has an account. Each such answer counts as a failed attempt "
        "of the client network and of the address."),
    "429": _error_response(
        TOO_MANY + ", or this address has been tried `LOGIN_MAX_FAILURES` times while it had an account. "
        "Every sign-up is then refused, for a new address too, so the answer tells nothing."),
}
LOGIN_RESPONSES = {
    "401": _error_response("`invalid_credentials`: the same answer for a wrong password and an unknown address."),
    "429": _error_response(
        TOO_MANY + ", or this account has had `LOGIN_MAX_FAILURES` failed logins from this client network. "
        "The account's owner signing in from another network is not affected."),
}
INVITE_RESPONSES = {
    "409": _error_response("`email_taken`: the address is a current teammate in this organisation."),
}
OWN_PHONE = ("The user's own work number; calls from it never become leads. A number of a contact or lead "
             "of the organisation is 409 `phone_in_use`.")
OWN_PHONE_RESPONSES = {
    "409": _error_response("`phone_in_use`: the number belongs to a contact or lead of the organisation; "
                           "`fields.phone` says so."),
}


class SignupSchema(Schema):
    """A new organisation and its first user, an admin."""

    class Meta:
        description = ("An address that already has an account is 409 `email_taken`; such answers are "
                       "throttled per client network and per address (429 `too_many_attempts`).")

    organization = NonEmptyText(200, required=True)
    region = Region(required=True)
    name = NonEmptyText(200, required=True)
    email = Email(required=True)
    password = PASSWORD


class SignupResultSchema(Schema):
    organization_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    token = fields.String(required=True)


class LoginSchema(Schema):
    email = Email(required=True)
    password = Text(required=True, load_only=True, validate=validate.Length(min=1, max=256))


TIMEZONE = "The user's own IANA zone, e.g. Asia/Kolkata; null: the organisation's applies."
OFFICE_HOURS = ("When the user works, read in their zone: `days` a window starts on (0 = Monday), `start` and "
                "`end` as HH:MM; an `end` at or before `start` runs past midnight. Null: not set.")


def TimeZone(**kwargs) -> Text:
    """A user's own zone: an IANA name, or null to use the organisation's."""
    return Text(allow_none=True, validate=[validate.Length(max=64), iana_zone],
                metadata={"description": TIMEZONE}, **kwargs)


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    email = fields.String()
    role = fields.String()
    organization_id = fields.Integer()
    region = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True, metadata={"description": TIMEZONE})
    effective_timezone = fields.Function(effective_timezone, metadata={
        "type": "string", "description": "The zone the user's times are read in: `timezone`, else the "
                                         "organisation's in effect (GET /settings)."})
    office_hours = fields.Nested(BusinessHoursSchema, allow_none=True, metadata={"description": OFFICE_HOURS})
    created_at = fields.AwareDateTime()
    last_active_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "In GET /users and GET /users/{id}: the latest request of any of the user's tokens, "
                       "browser sessions or phones, to the nearest five minutes; null when none yet."})


class UserListQuerySchema(ListQuerySchema):
    """Teammates in the order they joined."""


class UserListSchema(Schema):
    items = fields.List(fields.Nested(UserSchema))
    next_page = fields.Integer(allow_none=True)


class LoginResultSchema(Schema):
    token = fields.String(required=True)
    user = fields.Nested(UserSchema, required=True)


class UserUpdateSchema(Schema):
    """What an admin may change of a teammate."""

    role = fields.String(validate=validate.OneOf(ROLES))
    name = NonEmptyText(200)
    region = Region(allow_none=True)
    phone = Text(allow_none=True, validate=validate.Length(max=64), metadata={"description": OWN_PHONE})
    timezone = TimeZone()
    office_hours = fields.Nested(BusinessHoursSchema, allow_none=True, metadata={"description": OFFICE_HOURS})
    disabled = fields.Boolean()


class InviteCreateSchema(Schema):
    """A future teammate's address and role."""

    class Meta:
        description = ("The answer is 201 whether or not the address has an account in another "
                       "organisation; if it has, the e-mail tells its owner that the invitation cannot be "
                       "accepted with that address, and carries no link. Only a current teammate's address "
                       "is 409 `email_taken`.")

    email = Email(required=True)
    role = ROLE


class InviteCreatedSchema(Schema):
    invite_id = fields.Integer(required=True)
    expires_at = fields.AwareDateTime(required=True)
    delivery = fields.String(metadata={"description": "sent, written to outbox, or failed"})


class InviteListQuerySchema(ListQuerySchema):
    """Pending invites, oldest first."""


class InviteSchema(Schema):
    """An invite not yet accepted, withdrawn or expired."""

    invite_id = fields.Integer(attribute="id")
    email = fields.String()
    role = fields.String()
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    delivery = fields.String(metadata={"description": "The e-mail: pending, sent, outbox (written to the "
                                                      "outbox: no mail server is set up) or failed"})


class InviteListSchema(Schema):
    items = fields.List(fields.Nested(InviteSchema))
    next_page = fields.Integer(allow_none=True)


class InviteAcceptSchema(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=200))
    name = NonEmptyText(200, required=True)
    password = PASSWORD


class InviteAcceptedSchema(Schema):
    user_id = fields.Integer(required=True)
    token = fields.String(required=True)


RESET_RESPONSES = {
    "429": _error_response(
        "`too_many_attempts`, with `Retry-After`: this address has had `LOGIN_MAX_FAILURES` requests, or "
        "this client network `LOGIN_MAX_FAILURES_PER_ADDRESS`, in `LOGIN_WINDOW_S`; the same for an "
        "address without an account."),
}
RESET_CONFIRM_RESPONSES = {
    "404": _error_response("`reset_not_found`: no such link."),
    "410": _error_response("`reset_used` (the link has set a password already) or `reset_expired` (after an hour)."),
}
PASSWORD_CHANGE_RESPONSES = {
    "403": _error_response("`wrong_password`: the current password is wrong (`fields.current_password`); "
                           "it counts as a failed login."),
    "429": _error_response("`too_many_attempts`, with `Retry-After`: too many failed logins (see login)."),
}


class PasswordResetRequestSchema(Schema):
    """The address to e-mail a link to."""

    class Meta:
        description = ("Answered 202 with the same body whether or not the address has an account; the "
                       "e-mail carries a one-time link `/reset-password?token=`, valid for an hour.")

    email = Email(required=True)


class MessageSchema(Schema):
    message = fields.String(required=True, metadata={"description": "What happened, in a sentence"})


class PasswordResetConfirmSchema(Schema):
    """The e-mailed token and the new password."""

    class Meta:
        description = ("The token works once. Every token, browser session and phone of the user is "
                       "signed out: each phone must sign in and register again.")

    token = Text(required=True, validate=validate.Length(min=1, max=200))
    password = PASSWORD


class PasswordChangeSchema(Schema):
    """The current password and a new one."""

    class Meta:
        description = ("Every other token and browser session of the user ends; the token making the "
                       "request and the user's phones stay signed in.")

    current_password = Text(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    new_password = PASSWORD


class ApiKeyCreateSchema(Schema):
    name = NonEmptyText(100, required=True)


class ApiKeySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    created_at = fields.AwareDateTime()
    key = fields.String(metadata={"description": "Shown once, at creation"})


class ApiKeyListQuerySchema(ListQuerySchema):
    """Keys not revoked, oldest first."""


class ApiKeyListSchema(Schema):
    items = fields.List(fields.Nested(ApiKeySchema))
    next_page = fields.Integer(allow_none=True)
