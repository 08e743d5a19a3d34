"""Who is calling: bearer tokens (user or device) and organisation API keys.

`authenticate(mode)` is called by the route declaration for every API
request, so no view resolves credentials or checks roles by itself.
"""
from __future__ import annotations

from flask import request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from mobile_sync.roles import REP, is_reviewer
from mobile_sync.tokens import hash_token
from server.errors import ApiError
from server.extensions import db
from mobile_sync.store.credentials import TokenHolder, token_holder, touch_token
from mobile_sync.store.models import ApiKey, Device, Organization, User
from server.clock import now
from server.tenancy import set_session_organization

PUBLIC = "public"        # no credentials needed (a valid token is still read)
USER = "user"            # a user's own token; device tokens are refused
ANY = "any"              # a user token or a device token
DEVICE = "device"        # a device token only
API_KEY_AUTH = "api_key"  # an organisation's integration key


class OrganizationFields:
    """The organisation's fields every request reads (the daily limit, a
    closing organisation, the region), from the token's own statement."""

    __slots__ = ("id", "region", "plan", "settings", "closing_at")

    def __init__(self, id: int, region: str | None, plan: str, settings: dict | None, closing_at):
        self.id, self.region, self.plan, self.settings, self.closing_at = id, region, plan, settings, closing_at


class Principal:
    """Who is calling. Built from a token's plain values (`token_holder`): the
    ids, the role and the regions cost nothing more, and the ORM objects
    (`user`, `device`, `user.organization`) are loaded, in one statement, only
    by a view that asks for them. Or built with the objects themselves."""

    def __init__(self, kind: str, organization_id: int, user: User | None = None, device: Device | None = None,
                 api_key: ApiKey | None = None, *, holder: TokenHolder | None = None):
        self.kind = kind  # "user", "device" or "api_key"
        self.organization_id = organization_id
        self.api_key = api_key
        self._user, self._device, self._holder = user, device, holder
        self._organization = None

    def _load(self) -> None:
        holder = self._holder
        self._holder = None
        user, device = db.session.execute(
            select(User, Device).outerjoin(Device, Device.id == bindparam("device_id"))
            .where(User.id == bindparam("user_id")).options(joinedload(User.organization)),
            {"user_id": holder.user_id, "device_id": holder.device_id}).one()
        self._user, self._device = user, device

    @property
    def user(self) -> User | None:
        if self._holder is not None:
            self._load()
        return self._user

    @property
    def device(self) -> Device | None:
        if self._holder is not None:
            self._load()
        return self._device

    @property
    def user_id(self) -> int | None:
        if self._holder is not None:
            return self._holder.user_id
        return self._user.id if self._user else None

    @property
    def device_id(self) -> int | None:
        if self._holder is not None:
            return self._holder.device_id
        return self._device.id if self._device else None

    @property
    def user_region(self) -> str | None:
        if self._holder is not None:
            return self._holder.region
        return self._user.region if self._user else None

    @property
    def organization(self):
        """The organisation's id, region, plan, settings and closing_at (an
        Organization, or the same fields read with the token)."""
        if self._organization is None:
            holder = self._holder
            if holder is not None:
                self._organization = OrganizationFields(holder.organization_id, holder.organization_region,
                                                        holder.plan, holder.settings, holder.closing_at)
            elif self._user is not None:
                self._organization = self._user.organization
            else:
                self._organization = db.session.get(Organization, self.organization_id)
        return self._organization

    @property
    def role(self) -> str | None:
        """The user's role; through a phone's device token, a manager or an
        admin acts as a rep (the contract gives a device token only the
        phone's own endpoints and the rep's own leads)."""
        if self.user_id is None:
            return None
        if self.kind == "device":
            return REP
        return self._holder.role if self._holder is not None else self._user.role

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


def _token_principal(token: str) -> Principal | None:
    holder = token_holder(db.session, hash_token(token))
    if holder is None:
        return None
    if holder.revoked_at or holder.disabled_at or (holder.device_id and holder.device_revoked_at):
        return None
    # Last active (a user) and last seen (a phone): written only when the time
    # read with the token is stale, in the request's transaction (or by
    # itself, on a route that only reads).
    touch_token(db.session, holder.organization_id, holder.token_id, holder.last_used_at, now())
    kind = "device" if holder.device_id else "user"
    return Principal(kind=kind, organization_id=holder.organization_id, holder=holder)


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
