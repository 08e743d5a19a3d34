"""Organisations, users and their tokens: sign-up, login, roles, a user's
time zone and office hours, API keys."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from mobile_sync.errors import ServiceError, conflict, forbidden, not_found
from mobile_sync.org_settings import effective_settings
from mobile_sync.passwords import hash_password, verify_password
from mobile_sync.tokens import API_KEY, USER_TOKEN, new_token
from mobile_sync.store.models import AccessToken, ApiKey, LoginFailure, Organization, RecordPhone, User


def email_taken(session, email: str) -> bool:
    found = session.execute(
        select(User.id).where(User.email == email).execution_options(all_organizations=True)
    ).first()
    return found is not None


def issue_user_token(session, user: User) -> str:
    """Create a bearer token for `user`; return it in clear (shown once)."""
    clear, digest = new_token(USER_TOKEN)
    session.add(AccessToken(organization_id=user.organization_id, user_id=user.id, token_hash=digest))
    session.flush()
    return clear


def create_user(session, *, organization_id: int, name: str, email: str, password: str, role: str) -> User:
    if email_taken(session, email):
        raise conflict("email_taken", "An account with this e-mail address already exists.")
    user = User(organization_id=organization_id, name=name, email=email,
                password_hash=hash_password(password), role=role)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict("email_taken", "An account with this e-mail address already exists.")
    return user


def signup(session, *, organization: str, region: str, name: str, email: str, password: str,
           now: datetime, trial_days: int, address: str, limits: LoginLimits) -> tuple[Organization, User, str]:
    """Create an organisation on a trial plan with its first user, an admin.

    An address that already has an account is 409 `email_taken`: the contract
    answers a new address with its token, so the answers cannot be made alike.
    Instead each such answer counts as a failed attempt of the client network
    (shared with failed logins) and of the address, and past their limits
    every sign-up from that network, or for that address, is 429: a stranger
    can test a handful of addresses, not a list. Callers commit the failure
    that goes with a 409.
    """
    network = client_network(address)
    keys = ((throttle_key(limits.secret, "address", network), limits.max_failures_per_address),
            (throttle_key(limits.secret, "signup", email), limits.max_failures))
    _check_throttles(session, keys, limits.window_s, now, "Too many attempts. Try again later.")
    try:
        if email_taken(session, email):
            raise conflict("email_taken", "An account with this e-mail address already exists.")
        with session.begin_nested():  # the organisation and its admin, or neither
            org = Organization(name=organization, region=region, plan="trial",
                               trial_ends_at=now + timedelta(days=trial_days), settings={}, created_at=now)
            session.add(org)
            session.flush()
            user = create_user(session, organization_id=org.id, name=name, email=email, password=password,
                               role="admin")
    except ServiceError:
        _record_failure(session, [key for key, _ in keys], limits.window_s, now)
        raise
    return org, user, issue_user_token(session, user)


@dataclass
class LoginLimits:
    """Failed logins allowed in `window_s`: per account from one client
    network (`max_failures`) and per client network whatever the account
    (`max_failures_per_address`)."""

    secret: str
    max_failures: int
    max_failures_per_address: int
    window_s: int

    @classmethod
    def from_config(cls, config) -> "LoginLimits":
        """The limits from the service's configuration mapping (API and web alike)."""
        return cls(secret=config["SECRET_KEY"], max_failures=config["LOGIN_MAX_FAILURES"],
                   max_failures_per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
                   window_s=config["LOGIN_WINDOW_S"])


def client_network(address: str) -> str:
    """The unit a client address is throttled by: an IPv4 address, or the /64
    of an IPv6 one (one subscriber holds a whole /64 and can rotate within it)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def throttle_key(secret: str, kind: str, *values: str) -> str:
    """A keyed hash naming what is counted: no address or e-mail is stored in clear."""
    message = kind + ":" + "\n".join(values)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def count_attempt(session, keys_and_limits, window_s: int, now: datetime, message: str) -> None:
    """One attempt against every key (a password-reset request, say): 429
    past any key's limit in the window, else recorded."""
    _check_throttles(session, keys_and_limits, window_s, now, message)
    _record_failure(session, [key for key, _ in keys_and_limits], window_s, now)


def login_keys(limits: LoginLimits, email: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """The failed-login counters: this account from this client network, and the network."""
    network = client_network(address)
    return ((throttle_key(limits.secret, "account_at", email, network), limits.max_failures),
            (throttle_key(limits.secret, "address", network), limits.max_failures_per_address))


def check_password(session, user: User, password: str, *, address: str, now: datetime,
                   limits: LoginLimits) -> None:
    """The signed-in user's own password, asked again before a change; a wrong
    one counts as a failed login (403 `wrong_password`), so a stolen session
    cannot guess it faster than the sign-in form."""
    keys = login_keys(limits, user.email, address)
    _check_throttles(session, keys, limits.window_s, now, "Too many failed attempts. Try again later.")
    if not verify_password(user.password_hash, password):
        _record_failure(session, [key for key, _ in keys], limits.window_s, now)
        message = "The current password is wrong."
        raise ServiceError(403, "wrong_password", message, fields={"current_password": [message]})


def _retry_after(session, key: str, limit: int, window_s: int, now: datetime) -> int | None:
    since = now - timedelta(seconds=window_s)
    count, oldest = session.execute(
        select(func.count(), func.min(LoginFailure.failed_at))
        .where(LoginFailure.key_hash == key, LoginFailure.failed_at > since)
    ).one()
    if count < limit:
        return None
    wait = (oldest + timedelta(seconds=window_s) - now).total_seconds()
    return max(1, math.ceil(wait))


def _check_throttles(session, keys_and_limits, window_s: int, now: datetime, message: str) -> None:
    """429 with Retry-After if any key has used up its failures in the window."""
    for key, limit in keys_and_limits:
        wait = _retry_after(session, key, limit, window_s, now)
        if wait is not None:
            raise ServiceError(429, "too_many_attempts", message, headers={"Retry-After": str(wait)})


def _record_failure(session, keys, window_s: int, now: datetime) -> None:
    session.add_all([LoginFailure(key_hash=key, failed_at=now) for key in keys])
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at < now - timedelta(seconds=window_s)))
    session.flush()


def login(session, *, email: str, password: str, address: str, now: datetime,
          limits: LoginLimits) -> tuple[User, str]:
    """Check a password; throttle repeated failures per (account, client
    network) and per client network.

    There is no per-account limit across networks on purpose: it would let a
    stranger lock the owner out. Guessing from many networks is bounded by
    the per-network limits and the password rules.
    """
    keys = login_keys(limits, email, address)
    (account_key, _), (address_key, _) = keys
    _check_throttles(session, keys, limits.window_s, now, "Too many failed logins. Try again later.")
    user = session.execute(
        select(User).where(User.email == email).execution_options(all_organizations=True)
    ).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    closing = user is not None and user.organization.closing_at is not None and user.role != "admin"
    if not ok or user is None or user.disabled_at or closing:
        _record_failure(session, (account_key, address_key), limits.window_s, now)
        raise ServiceError(401, "invalid_credentials", "The e-mail address or password is wrong.")
    # The network's own count stays: one's own account must not reset a guesser's budget.
    session.execute(delete(LoginFailure).where(LoginFailure.key_hash == account_key))
    return user, issue_user_token(session, user)


def get_user(session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    return user


def update_user(session, acting: User, user_id: int, changes: dict, now: datetime) -> User:
    """An admin changes a teammate's role, name, region, time zone, office hours or access."""
    user = get_user(session, user_id)
    if user.id == acting.id and (changes.get("role", "admin") != "admin" or changes.get("disabled")):
        raise forbidden("You cannot demote or disable yourself; ask another admin.")
    for key in ("role", "name", "region"):
        if key in changes:
            setattr(user, key, changes[key])
    _set_hours(user, changes)
    if "phone" in changes:
        set_user_phone(session, user, changes["phone"], now)
    if "disabled" in changes:
        user.disabled_at = now if changes["disabled"] else None
        if changes["disabled"]:
            session.execute(update(AccessToken).where(AccessToken.user_id == user.id, AccessToken.revoked_at.is_(None))
                            .values(revoked_at=now))
    session.flush()
    return user


def set_user_phone(session, user: User, raw: str | None, now: datetime) -> None:
    """A colleague's own number joins the phone index (calls from it are never leads).

    A number of a contact or lead of the organisation is 409 `phone_in_use`:
    that customer's calls would stop making leads and caller ID would name
    the colleague.
    """
    from mobile_sync.phone_index import parse_phones, set_record_phones

    numbers = parse_phones([raw], user.region or user.organization.region, field="phone") if raw else []
    for number in numbers:
        holder = _customer_holding(session, user.organization_id, number.e164)
        if holder is not None:
            message = (f"This number belongs to a {holder} of your organisation; a teammate's own number "
                       f"cannot be a customer's. Remove it from the {holder} first, or enter another number.")
            raise ServiceError(409, "phone_in_use", message, fields={"phone": [message]})
    user.phone = numbers[0].e164 if numbers else None
    set_record_phones(session, organization_id=user.organization_id, record_type="user", record_id=user.id,
                      numbers=numbers, now=now)


def _customer_holding(session, organization_id: int, e164: str) -> str | None:
    """"contact" or "lead" if such a record of the organisation has this number in the phone index."""
    return session.execute(
        select(RecordPhone.record_type)
        .where(RecordPhone.organization_id == organization_id, RecordPhone.e164 == e164,
               RecordPhone.record_type.in_(("contact", "lead")))
        .order_by(RecordPhone.record_type).limit(1)
    ).scalar()


def update_profile(session, user: User, changes: dict, now: datetime) -> User:
    """The user changes their own name, region, work number, time zone or office hours."""
    for key in ("name", "region"):
        if key in changes:
            setattr(user, key, changes[key])
    _set_hours(user, changes)
    if "phone" in changes:
        set_user_phone(session, user, changes["phone"], now)
    session.flush()
    return user


def _set_hours(user: User, changes: dict) -> None:
    """A user's own zone (an IANA name) and office hours (`mobile_sync.office_hours`),
    as the schema loaded them; None clears either (the organisation's zone then applies)."""
    if "timezone" in changes:
        user.timezone = changes["timezone"]
    if "office_hours" in changes:
        hours = changes["office_hours"]
        user.office_hours = None if hours is None else {
            "days": sorted(set(hours["days"])), "start": hours["start"], "end": hours["end"]}


def effective_timezone(user: User) -> str:
    """The zone a user's times are read in: their own, else the organisation's in effect."""
    return user.timezone or effective_settings(user.organization)["timezone"]


def list_users(session) -> list[User]:
    return list(session.execute(select(User).order_by(User.id)).scalars())


@dataclass(frozen=True)
class Teammate:
    """A user as the team's lists show them: the account, and when any of
    their tokens, browser sessions or phones was last used (to the nearest
    `store.credentials.TOUCH_EVERY`; None when never). Reads through to the
    user's own fields."""

    user: User
    last_active_at: datetime | None

    def __getattr__(self, name: str):
        if name == "user":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.user, name)


def last_active(session, organization_id: int, user_ids: list[int] | None = None) -> dict[int, datetime]:
    """{user id: the latest use of any of their tokens} for the organisation's
    users (only `user_ids` when given); users whose tokens were never used are absent."""
    query = (select(AccessToken.user_id, func.max(AccessToken.last_used_at))
             .where(AccessToken.organization_id == organization_id, AccessToken.last_used_at.is_not(None))
             .group_by(AccessToken.user_id))
    if user_ids is not None:
        query = query.where(AccessToken.user_id.in_(user_ids))
    return dict(session.execute(query).all())


def _page_of(session, query, page: int, limit: int) -> tuple[list, int | None]:
    rows = list(session.execute(query.offset((page - 1) * limit).limit(limit + 1)).scalars())
    return rows[:limit], (page + 1 if len(rows) > limit else None)


def users_page(session, organization_id: int, *, page: int = 1,
               limit: int = 50) -> tuple[list[Teammate], int | None]:
    """The organisation's users in the order they joined, `limit` a page, each
    with when they were last active; and the next page's number, or None."""
    users, next_page = _page_of(session, select(User).where(User.organization_id == organization_id)
                                .order_by(User.id), page, limit)
    active = last_active(session, organization_id, [user.id for user in users]) if users else {}
    return [Teammate(user, active.get(user.id)) for user in users], next_page


def get_teammate(session, user_id: int) -> Teammate:
    """One user of the caller's organisation with when they were last active; 404 for anyone else."""
    user = get_user(session, user_id)
    return Teammate(user, last_active(session, user.organization_id, [user.id]).get(user.id))


def create_api_key(session, *, organization_id: int, created_by: int, name: str) -> tuple[ApiKey, str]:
    clear, digest = new_token(API_KEY)
    key = ApiKey(organization_id=organization_id, name=name, prefix=clear[:8], key_hash=digest,
                 created_by_id=created_by)
    session.add(key)
    session.flush()
    return key, clear


def revoke_api_key(session, key_id: int, now: datetime) -> None:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at:
        raise not_found("API key")
    key.revoked_at = now
    session.flush()


def list_api_keys(session) -> list[ApiKey]:
    return list(session.execute(select(ApiKey).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)).scalars())


def api_keys_page(session, organization_id: int, *, page: int = 1,
                  limit: int = 50) -> tuple[list[ApiKey], int | None]:
    """The organisation's keys not revoked, oldest first, `limit` a page; and the next page's number, or None."""
    return _page_of(session, select(ApiKey).where(ApiKey.organization_id == organization_id,
                                                  ApiKey.revoked_at.is_(None)).order_by(ApiKey.id), page, limit)


def revoke_token(session, token_hash: str, now: datetime) -> None:
    session.execute(update(AccessToken).where(AccessToken.token_hash == token_hash).values(revoked_at=now))
