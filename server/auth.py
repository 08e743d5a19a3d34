"""Who is calling: bearer tokens (user or device) and organisation API keys.

`authenticate(mode)` is called by the route declaration for every API
request, so no view resolves credentials or checks roles by itself.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager

from mobile_sync.roles import REP, is_reviewer
from mobile_sync.tokens import hash_token
from server.errors import ApiError
from server.extensions import db
from mobile_sync.store.models import AccessToken, ApiKey, Device, Organization, User
from server.tenancy import set_session_organization

PUBLIC = "public"        # no credentials needed (a valid token is still read)
USER = "user"            # a user's own token; device tokens are refused
ANY = "any"              # a user token or a device token
DEVICE = "device"        # a device token only
API_KEY_AUTH = "api_key"  # an organisation's integration key


@dataclass
class Principal:
    kind: str  # "user", "device" or "api_key"
    organization_id: int
    user: User | None = None
    device: Device | None = None
    api_key: ApiKey | None = None

    @property
    def role(self) -> str | None:
        """The user's role; through a phone's device token, a manager or an
        admin acts as a rep (the contract gives a device token only the
        phone's own endpoints and the rep's own leads)."""
        if self.user is None:
            return None
        return REP if self.kind == "device" else self.user.role

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None

    @property
    def is_manager(self) -> bool:
        return is_reviewer(self.role)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _unauthorized(message: str = "A valid bearer token is required.") -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


# Built once: every API request runs it. The user's organisation comes in
# the same statement: nearly every request reads it (the daily request limit,
# the region, the settings), and a lazy load was a second round trip.
_TOKEN_QUERY = (
    select(AccessToken.revoked_at, AccessToken.device_id, User, Device)
    .join(User, User.id == AccessToken.user_id)
    .join(Organization, Organization.id == User.organization_id)
    .outerjoin(Device, Device.id == AccessToken.device_id)
    .options(contains_eager(User.organization))
    .where(AccessToken.token_hash == bindparam("token_hash"))
    .execution_options(all_organizations=True)
)


def _token_principal(token: str) -> Principal | None:
    row = db.session.execute(_TOKEN_QUERY, {"token_hash": hash_token(token)}).first()
    if row is None:
        return None
    revoked_at, device_id, user, device = row
    if revoked_at or user.disabled_at or (device_id and (device is None or device.revoked_at)):
        return None
    kind = "device" if device_id else "user"
    return Principal(kind=kind, organization_id=user.organization_id, user=user, device=device)


def _api_key_principal(token: str) -> Principal | None:
    key = db.session.execute(
        select(ApiKey).where(ApiKey.key_hash == hash_token(token)).execution_options(all_organizations=True)
    ).scalar_one_or_none()
    if key is None or key.revoked_at:
        return None
    return Principal(kind="api_key", organization_id=key.organization_id, api_key=key)


def authenticate(mode: str) -> Principal | None:
    """Resolve the caller for an endpoint of the given mode, or raise 401/403."""
    token = _bearer() or (request.headers.get("X-Api-Key") if mode == API_KEY_AUTH else None)
    principal = None
    if token:
        principal = _api_key_principal(token) if mode == API_KEY_AUTH else _token_principal(token)
    if mode == PUBLIC:
        if principal is not None:
            set_session_organization(db.session, principal.organization_id)
        return principal
    if principal is None:
        if mode == API_KEY_AUTH:
            raise _unauthorized("A valid organisation API key is required.")
        raise _unauthorized()
    if mode == USER and principal.kind != "user":
        raise ApiError(403, "user_token_required", "This needs a user token; a device token cannot do it.")
    if mode == DEVICE and principal.kind != "device":
        raise ApiError(403, "device_token_required", "This needs the phone's device token.")
    set_session_organization(db.session, principal.organization_id)
    return principal
