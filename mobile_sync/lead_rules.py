"""The auto-lead rules: which unknown callers become leads, and why not.

Every call that matched no record gets an outcome: `lead_created`,
`attached_to_lead`, or `skip:<reason>`, so each decision can be explained.
One lead per (organisation, number) is enforced by a unique constraint, so
two reps' uploads processed at once still make one lead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from mobile_sync.store.bulk_sql import among, insert_rows, not_among
from mobile_sync.store.calls import CallFacts
from mobile_sync.call_types import CONNECTED, LEAD_RULE_TYPES
from mobile_sync.store.erased_numbers import erased_numbers
from mobile_sync.number_hash import PHONEBOOK, number_hash
from mobile_sync.office_hours import within_hours
from mobile_sync.org_settings import effective_settings
from mobile_sync.private_numbers import private_pairs
from mobile_sync.phones import format_international, normalize_number, suffix_of_e164
from mobile_sync.pushes import queue_push
from mobile_sync.roles import REVIEWERS
from mobile_sync.store.directory_log import add_record_phones
from mobile_sync.store.models import Call, Lead, Organization, PhonebookNumber, RecordPhone, Suppression, User

NEW_LEAD_PUSHES_PER_BATCH = 3
SUPPRESS = "suppress"


@dataclass
class RuleContext:
    """Everything the rules need, loaded once per batch."""

    rules: dict
    timezone: ZoneInfo
    erased: set[str] = field(default_factory=set)
    colleagues: set[str] = field(default_factory=set)
    tracking: set[str] = field(default_factory=set)
    spam: set[str] = field(default_factory=set)
    personal: set[tuple[int, str]] = field(default_factory=set)     # (user id, e164)
    phone_book: set[tuple[int, str]] = field(default_factory=set)   # (user id, e164)
    allowed_types: frozenset[int] = frozenset()                      # Android call types that may make a lead
    prior_calls: dict[str, int] = field(default_factory=dict)
    private: set[tuple[int, str]] = field(default_factory=set)      # (user id, e164) the user marked private
    office_hours: dict[int, tuple[dict, ZoneInfo]] = field(default_factory=dict)  # user id: (hours, zone)


def skip_reason(call: CallFacts, ctx: RuleContext, seen_in_batch: int = 0) -> str | None:
    """Why this unmatched call must not make a lead, or None if it should."""
    rules = ctx.rules
    if not rules["enabled"]:
        return "skip:disabled"
    if call.e164 is None:
        return f"not_matchable:{call.number_status}"
    if call.e164 in ctx.erased:
        return "skip:erased"
    if call.e164 in ctx.colleagues:
        return "skip:colleague"
    if call.e164 in ctx.tracking:
        return "skip:tracking_number"
    if call.e164 in ctx.spam:
        return "skip:spam"
    if (call.user_id, call.e164) in ctx.private:
        return "skip:private"
    if (call.user_id, call.e164) in ctx.personal:
        return "skip:personal"
    if rules["skip_device_contacts"] and (call.user_id, call.e164) in ctx.phone_book:
        return "skip:phone_book"
    if call.call_type not in ctx.allowed_types:
        return "skip:call_type"
    if call.call_type in CONNECTED and call.duration_s < rules["min_duration_s"]:
        return "skip:short_call"
    if rules.get("business_hours") and not within_hours(rules["business_hours"], call.started_at, ctx.timezone):
        return "skip:outside_business_hours"
    if rules.get("outside_office_hours") == "skip" and outside_office_hours(ctx.office_hours, call):
        return "skip:outside_office_hours"
    if ctx.prior_calls.get(call.e164, 0) + seen_in_batch + 1 < rules["repeat_caller_threshold"]:
        return "skip:below_repeat_threshold"
    return None


def users_office_hours(session, organization_id: int, user_ids, default_zone: ZoneInfo
                       ) -> dict[int, tuple[dict, ZoneInfo]]:
    """{user id: (office hours, zone)} for those of `user_ids` who set office
    hours; the zone is the user's, else `default_zone` (the organisation's)."""
    users = User.__table__.c
    found = {}
    for user_id, zone, hours in session.execute(select(users.id, users.timezone, users.office_hours).where(
            users.organization_id == organization_id, among(session, users.id, set(user_ids)),
            users.office_hours.is_not(None))).all():
        if not hours:
            continue
        try:
            tz = ZoneInfo(zone) if zone else default_zone
        except (ZoneInfoNotFoundError, ValueError):
            tz = default_zone
        found[user_id] = (hours, tz)
    return found


def outside_office_hours(office_hours: dict[int, tuple[dict, ZoneInfo]], call: CallFacts) -> bool:
    """Whether the call fell outside its user's office hours (a user who set
    none works at all hours). The one office-hours rule: `within_hours`."""
    hours = office_hours.get(call.user_id)
    return hours is not None and not within_hours(hours[0], call.started_at, hours[1])


def org_zone(settings: dict) -> ZoneInfo:
    try:
        return ZoneInfo(settings.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def source_for(call: CallFacts, settings: dict) -> str:
    """The tracking number's source when the call came through one, else the
    device's campaign, else `phone_call`."""
    if call.via_e164:
        for tracking in settings["tracking_numbers"]:
            if _tracking_e164(tracking) == call.via_e164 and _valid_at(tracking, call.started_at):
                return tracking.get("source") or "tracking_number"
    campaign = settings["campaign_devices"].get(str(call.device_id))
    return campaign or "phone_call"


def _tracking_e164(tracking: dict) -> str | None:
    return normalize_number(tracking.get("number"), None).e164


def _valid_at(tracking: dict, at: datetime) -> bool:
    start, end = tracking.get("valid_from"), tracking.get("valid_to")
    day = at.date().isoformat()
    return (not start or start <= day) and (not end or day <= end)


def load_context(session, org: Organization, batch: list[CallFacts], hash_key: str) -> RuleContext:
    settings = effective_settings(org)
    tz = org_zone(settings)
    rules = settings["auto_leads"]
    ctx = RuleContext(rules=rules, timezone=tz, allowed_types=frozenset(
        LEAD_RULE_TYPES[name] for name in rules["call_types"] if name in LEAD_RULE_TYPES))
    numbers = {c.e164 for c in batch if c.e164}
    if not numbers:
        return ctx
    # Core statements (on the tables' columns): the ORM's result set-up cost
    # more than these few rows.
    # Uploads drop erased numbers, and an erasure waits for the uploads and
    # the processing run in flight (`mobile_sync.store.locks`); asked again
    # here, inside the run's transaction, all the same.
    ctx.erased = erased_numbers(session, org.id, numbers, hash_key)
    ctx.private = private_pairs(session, org.id, {(c.user_id, c.e164) for c in batch if c.e164}, hash_key)
    if rules.get("outside_office_hours") == "skip":
        ctx.office_hours = users_office_hours(session, org.id, {c.user_id for c in batch}, tz)
    phones, suppressions, book_numbers, calls = (RecordPhone.__table__.c, Suppression.__table__.c,
                                                 PhonebookNumber.__table__.c, Call.__table__.c)
    ctx.colleagues = set(session.execute(
        select(phones.e164).where(phones.organization_id == org.id, phones.record_type == "user",
                                  among(session, phones.e164, numbers))).scalars())
    ctx.tracking = {_tracking_e164(t) for t in settings["tracking_numbers"]} & numbers
    by_hash = {number_hash(hash_key, SUPPRESS, org.id, n): n for n in numbers}
    for digest, user_id in session.execute(
        select(suppressions.number_hash, suppressions.user_id)
        .where(suppressions.organization_id == org.id, among(session, suppressions.number_hash, by_hash))
    ).all():
        if user_id is None:
            ctx.spam.add(by_hash[digest])
        else:
            ctx.personal.add((user_id, by_hash[digest]))
    book = {number_hash(hash_key, PHONEBOOK, org.id, n): n for n in numbers}
    for user_id, digest in session.execute(
        select(book_numbers.user_id, book_numbers.number_hash)
        .where(book_numbers.organization_id == org.id, among(session, book_numbers.number_hash, book))
    ).all():
        ctx.phone_book.add((user_id, book[digest]))
    if ctx.rules["repeat_caller_threshold"] > 1:
        ctx.prior_calls = dict(session.execute(
            select(calls.e164, func.count())
            .where(calls.organization_id == org.id, among(session, calls.e164, numbers),
                   not_among(session, calls.id, [c.id for c in batch])).group_by(calls.e164)).all())
    return ctx


def _create_leads(session, org: Organization, firsts: dict[str, CallFacts], settings: dict,
                  now: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Create the leads of a batch in one statement; return ({e164: new lead id},
    {e164: existing lead id}) -- a concurrent upload may have made some first."""
    rows = [{"organization_id": org.id, "name": ((c.cached_name or "").strip() or format_international(e164))[:200],
             "phone": e164, "source": source_for(c, settings), "status": "pending_review", "owner_id": c.user_id,
             "created_at": now, "updated_at": now, "calls_count": 0, "created_from_call_id": c.id}
            for e164, c in firsts.items()]
    created = {phone: lead_id for lead_id, phone in insert_rows(
        session, Lead.__table__, rows, skip_conflicts_on=("organization_id", "phone"), returning=("id", "phone"))}
    missing = [e164 for e164 in firsts if e164 not in created]
    existing = {phone: lead_id for lead_id, phone in session.execute(
        select(Lead.id, Lead.phone).where(Lead.organization_id == org.id, among(session, Lead.phone, missing)))
    } if missing else {}
    add_record_phones(session, org.id, [
        {"record_type": "lead", "record_id": lead_id, "e164": e164, "suffix": suffix_of_e164(e164), "raw": e164,
         "extension": None} for e164, lead_id in created.items()], now)
    return created, existing


def _new_lead_pushes(session, org: Organization, created: dict[str, int], firsts: dict[str, CallFacts],
                     hash_key: str, now: datetime) -> list[int]:
    """Each rep hears of their new leads: one push per lead, or one summary
    push when a batch made more than a few (a first sync of an old call log)."""
    by_owner: dict[int, list[str]] = {}
    for e164 in created:
        by_owner.setdefault(firsts[e164].user_id, []).append(e164)
    pushes: list[int] = []
    for owner_id, numbers in by_owner.items():
        if len(numbers) > NEW_LEAD_PUSHES_PER_BATCH:
            _, ids = queue_push(session, organization_id=org.id, user_ids=[owner_id], kind="new_lead",
                                context={"new_leads": len(numbers)}, e164=None, hash_key=hash_key, now=now)
            pushes.extend(ids)
            continue
        for e164 in numbers:
            _, ids = queue_push(session, organization_id=org.id, user_ids=[owner_id], kind="new_lead",
                                context={"lead_id": created[e164], "number": e164,
                                         "name": firsts[e164].cached_name},
                                e164=e164, hash_key=hash_key, now=now)
            pushes.extend(ids)
    return pushes


def apply_auto_lead_rules(session, *, org: Organization, calls: list[CallFacts], now: datetime,
                          hash_key: str) -> list[int]:
    """Decide each unmatched call; make or attach leads. Returns push message ids to send."""
    unmatched = [c for c in calls if c.outcome == "unmatched"]
    if not unmatched:
        return []
    settings = effective_settings(org)
    if not settings["auto_leads"]["enabled"]:
        for call in unmatched:
            call.outcome = "skip:disabled"
        return []
    ctx = load_context(session, org, unmatched, hash_key)
    seen: dict[str, int] = {}
    leading: list[CallFacts] = []
    for call in sorted(unmatched, key=lambda c: (c.started_at, c.id)):
        reason = skip_reason(call, ctx, seen.get(call.e164, 0))
        if call.e164:
            seen[call.e164] = seen.get(call.e164, 0) + 1
        if reason is not None:
            call.outcome = reason
        else:
            leading.append(call)
    if not leading:
        return []
    firsts: dict[str, CallFacts] = {}
    for call in leading:
        firsts.setdefault(call.e164, call)
    created, existing = _create_leads(session, org, firsts, settings, now)
    for call in leading:
        call.record_type = "lead"
        call.record_id = created.get(call.e164) or existing[call.e164]
        call.outcome = "lead_created" if firsts[call.e164] is call and call.e164 in created else "attached_to_lead"
    pushes = _new_lead_pushes(session, org, created, firsts, hash_key, now)
    if created:
        pushes.extend(_alert_growing_queue(session, org, len(created), ctx.rules["queue_alert_threshold"],
                                           hash_key, now))
    return pushes


def _alert_growing_queue(session, org: Organization, created: int, threshold: int, hash_key: str,
                         now: datetime) -> list[int]:
    """Tell managers each time the review queue passes another `threshold` leads."""
    pending = session.execute(select(func.count()).select_from(Lead).where(
        Lead.organization_id == org.id, Lead.status == "pending_review")).scalar_one()
    if (pending - created) // threshold >= pending // threshold:
        return []
    reviewers = session.execute(select(User.id).where(
        User.organization_id == org.id, User.role.in_(REVIEWERS), User.disabled_at.is_(None))).scalars()
    _, ids = queue_push(session, organization_id=org.id, user_ids=list(reviewers), kind="lead_queue",
                        context={"pending": pending}, e164=None, hash_key=hash_key, now=now)
    return ids
