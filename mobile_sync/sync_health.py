"""Sync health: what the app reports of itself, and phones that went silent.

OEM battery killers (Xiaomi, Huawei, Oppo, Vivo), battery optimisation and
revoked permissions stop the app without a word. So the app reports its
state (`record_health`), and a phone that has not uploaded for the
organisation's `silent_after_hours` *working* hours of its user is silent:
working hours are the user's office hours in the user's zone (else the
organisation's), or every hour when none are set. Time outside them does not
count, and a phone is never flagged while its user is on a day off. The flag
is worked out when asked, from the latest upload, so the next upload clears it.

Once an hour `check_silent_phones` asks each silent phone (by push, no
personal data, at most once a day) to open the app, and once a day sends
each organisation's managers and admins one digest of its silent phones.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from mobile_sync.office_hours import EVERY_DAY, within_hours
from mobile_sync.org_settings import effective_settings
from mobile_sync.pushes import queue_push
from mobile_sync.roles import REVIEWERS
from mobile_sync.store.models import Device, Organization, SyncCursor, User
from mobile_sync.store.models.devices import SilentPhonesDigest

NUDGE_KIND = "sync_check"     # a data message: kind and push id only
NUDGE_EVERY = timedelta(days=1)
_LONGEST_WALK_DAYS = 400      # office hours of a minute a week still end the walk


def record_health(session, device: Device, report: dict, now: datetime) -> None:
    """Keep the app's latest report on the device (the app version too)."""
    device.health = {"battery_optimized": report["battery_optimized"], "autostart": report["autostart"],
                     "permissions": dict(report["permissions"]), "app_version": report["app_version"]}
    device.health_reported_at = now
    device.app_version = report["app_version"]
    device.updated_at = now
    session.flush()


def _zone(name: str | None, fallback: str | None = None) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def silent_deadline(since: datetime, working_hours: float, hours: dict | None, tz: ZoneInfo) -> datetime | None:
    """The moment `working_hours` of work have passed since `since`: counted
    in the user's office hours (`hours`, read on the local clock of `tz`, so
    a window keeps its hours across a daylight-saving change), or in every
    hour when none are set. None when no working time ever comes."""
    remaining = timedelta(hours=working_hours)
    if not hours:
        return since + remaining
    days = set(hours.get("days", EVERY_DAY))
    if not days:
        return None
    start = time.fromisoformat(hours.get("start", "00:00"))
    end = time.fromisoformat(hours.get("end", "23:59"))
    first = since.astimezone(tz).date() - timedelta(days=1)  # a night shift that began the day before
    for offset in range(_LONGEST_WALK_DAYS):
        day = first + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opens = datetime.combine(day, start, tzinfo=tz).astimezone(timezone.utc)
        closes = datetime.combine(day if start < end else day + timedelta(days=1), end,
                                  tzinfo=tz).astimezone(timezone.utc)
        lower = max(opens, since)
        if lower >= closes:
            continue
        if closes - lower >= remaining:
            return lower + remaining
        remaining -= closes - lower
    return None


def on_day_off(hours: dict | None, moment: datetime, tz: ZoneInfo) -> bool:
    """A day the user does not work (not one of their office days, and not the
    tail of a night shift that began the day before)."""
    if not hours:
        return False
    local = moment.astimezone(tz)
    return local.weekday() not in set(hours.get("days", EVERY_DAY)) and not within_hours(hours, moment, tz)


@dataclass
class Silence:
    silent: bool
    silent_since: datetime | None


def silence_of(*, last_upload_at: datetime | None, registered_at: datetime, user: User, settings: dict,
               now: datetime) -> Silence:
    """Whether a phone is silent now, and since when (see the module's docstring)."""
    tz = _zone(user.timezone, settings.get("timezone"))
    since = last_upload_at or registered_at
    deadline = silent_deadline(since, settings["silent_after_hours"], user.office_hours, tz)
    if deadline is None or deadline > now or on_day_off(user.office_hours, now, tz):
        return Silence(False, None)
    return Silence(True, deadline)


def add_silence(session, organization: Organization, items: list[dict], now: datetime) -> None:
    """Set `silent` and `silent_since` on device list items (one query for their users)."""
    if not items:
        return
    settings = effective_settings(organization)
    users = {user.id: user for user in session.execute(select(User).where(
        User.organization_id == organization.id, User.id.in_({item["user_id"] for item in items}))).scalars()}
    for item in items:
        user = users.get(item["user_id"])
        silence = (silence_of(last_upload_at=item["last_upload_at"], registered_at=item["registered_at"],
                              user=user, settings=settings, now=now) if user else Silence(False, None))
        item["silent"], item["silent_since"] = silence.silent, silence.silent_since


@dataclass
class SilentPhone:
    device: Device
    user: User
    silent_since: datetime


@dataclass
class Digest:
    organization_id: int
    organization_name: str
    recipients: list[str]
    phones: list[tuple[str, str, datetime]]   # (user name, phone model, silent since)
    timezone: ZoneInfo


def silent_phones(session, organization: Organization, now: datetime) -> list[SilentPhone]:
    """The organisation's registered phones that are silent now, longest silent first."""
    settings = effective_settings(organization)
    last_upload = (select(func.max(SyncCursor.last_synced_at))
                   .where(SyncCursor.device_id == Device.id).correlate(Device).scalar_subquery())
    rows = session.execute(select(Device, User, last_upload).join(User, User.id == Device.user_id).where(
        Device.organization_id == organization.id, Device.revoked_at.is_(None), User.disabled_at.is_(None))).all()
    found = []
    for device, user, last_upload_at in rows:
        silence = silence_of(last_upload_at=last_upload_at, registered_at=device.created_at, user=user,
                             settings=settings, now=now)
        if silence.silent:
            found.append(SilentPhone(device, user, silence.silent_since))
    return sorted(found, key=lambda phone: (phone.silent_since, phone.device.id))


def check_silent_phones(session, now: datetime, hash_key: str) -> tuple[list[int], list[Digest]]:
    """Hourly, every organisation: queue a push to each silent phone not asked
    in the last day, and record today's digest of an organisation's silent
    phones if not recorded yet. Returns (push message ids to send, digests
    to e-mail), both to act on after the commit; run twice, it asks and
    e-mails nobody twice."""
    organization_ids = session.execute(select(Device.organization_id).distinct().where(
        Device.revoked_at.is_(None))).scalars().all()
    pushes: list[int] = []
    digests: list[Digest] = []
    for organization_id in sorted(organization_ids):
        organization = session.get(Organization, organization_id)
        if organization is None or organization.closing_at is not None:
            continue
        phones = silent_phones(session, organization, now)
        if not phones:
            continue
        for phone in phones:
            device = phone.device
            reachable = device.fcm_token or device.fcm_fid
            if reachable and (device.nudged_at is None or now - device.nudged_at >= NUDGE_EVERY):
                _, ids = queue_push(session, organization_id=organization_id, user_ids=[device.user_id],
                                    kind=NUDGE_KIND, context=None, e164=None, hash_key=hash_key, now=now,
                                    devices=[device])
                pushes.extend(ids)
                device.nudged_at = now
        digest = _todays_digest(session, organization, phones, now)
        if digest is not None:
            digests.append(digest)
    session.flush()
    return pushes, digests


def _todays_digest(session, organization: Organization, phones: list[SilentPhone], now: datetime) -> Digest | None:
    tz = _zone(effective_settings(organization).get("timezone"))
    day = now.astimezone(tz).date().isoformat()
    sent = session.execute(select(SilentPhonesDigest.id).where(
        SilentPhonesDigest.organization_id == organization.id, SilentPhonesDigest.day == day)).first()
    if sent is not None:
        return None
    recipients = list(session.execute(select(User.email).where(
        User.organization_id == organization.id, User.role.in_(REVIEWERS), User.disabled_at.is_(None))
        .order_by(User.id)).scalars())
    session.add(SilentPhonesDigest(organization_id=organization.id, day=day, phones=len(phones), created_at=now))
    return Digest(organization.id, organization.name, recipients,
                  [(phone.user.name, phone.device.model or "Android phone", phone.silent_since) for phone in phones],
                  tz)


def digest_text(digest: Digest) -> tuple[str, str]:
    """(subject, body) of the daily e-mail: who, which phone, since when; no client data."""
    count = len(digest.phones)
    subject = f"{count} phone{'s' if count != 1 else ''} stopped syncing"
    lines = [f"These phones of {digest.organization_name} have not uploaded their calls for a while. "
             "Battery savers and autostart settings often stop the app; the rep has been asked to open it.", ""]
    for name, model, since in digest.phones:
        lines.append(f"- {name}, {model}: silent since {since.astimezone(digest.timezone):%Y-%m-%d %H:%M}")
    lines += ["", "See Devices in CallSync for each phone's last report (battery, autostart, permissions)."]
    return subject, "\n".join(lines) + "\n"
