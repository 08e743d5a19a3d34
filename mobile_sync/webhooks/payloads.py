"""Each event's `data`, built when it is sent from what the records hold then:
ids and the fields a CRM needs. A number erased since the event is left out,
and a call upload from a phone whose consent was withdrawn is not sent at all
(None: the delivery is cancelled)."""
from __future__ import annotations

from sqlalchemy import select

from mobile_sync.call_types import LABELS
from mobile_sync.store.consent_state import has_consent
from mobile_sync.store.erased_numbers import erased_numbers
from mobile_sync.store.models import Call, Contact, Lead, RecordPhone, Task


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _lead(session, org: int, subject: dict, hash_key: str) -> dict:
    lead = session.get(Lead, subject["lead_id"])
    data = {"id": subject["lead_id"]}
    if lead is None or lead.organization_id != org:
        return {**data, **{k: v for k, v in subject.items() if k != "lead_id"}}
    phone = lead.phone if lead.phone not in erased_numbers(session, org, [lead.phone], hash_key) else None
    data.update(status=lead.status, name=lead.name, phone=phone, company=lead.company, email=lead.email,
                owner_id=lead.owner_id, source=lead.source, created_at=_iso(lead.created_at),
                reject_reason=lead.reject_reason)
    if lead.merged_into_id is not None:
        data["merged_into"] = {"type": lead.merged_into_type, "id": lead.merged_into_id}
    return data


def _contact(session, org: int, subject: dict, hash_key: str) -> dict:
    contact = session.get(Contact, subject["contact_id"])
    if contact is None or contact.organization_id != org:
        return {"id": subject["contact_id"]}
    phones = session.execute(select(RecordPhone.e164).where(
        RecordPhone.organization_id == org, RecordPhone.record_type == "contact",
        RecordPhone.record_id == contact.id).order_by(RecordPhone.id)).scalars().all()
    erased = erased_numbers(session, org, phones, hash_key)
    return {"id": contact.id, "name": contact.name, "company": contact.company, "email": contact.email,
            "owner_id": contact.owner_id, "phones": [p for p in phones if p not in erased],
            "updated_at": _iso(contact.updated_at)}


def _contact_deleted(session, org: int, subject: dict, hash_key: str) -> dict:
    return {"id": subject["contact_id"]}


def _task(session, org: int, subject: dict, hash_key: str) -> dict:
    task = session.get(Task, subject["task_id"])
    if task is None or task.organization_id != org:
        return {"id": subject["task_id"]}
    number = task.e164 if task.e164 not in erased_numbers(session, org, [task.e164], hash_key) else None
    return {"id": task.id, "status": task.status, "owner_id": task.owner_id, "record_type": task.record_type,
            "record_id": task.record_id, "call_id": task.call_id, "number": number,
            "missed_at": _iso(task.missed_at), "missed_count": task.missed_count,
            "closed_at": _iso(task.closed_at)}


def _calls(session, org: int, subject: dict, hash_key: str, batch: "PayloadBatch | None" = None) -> dict | None:
    batch = batch or PayloadBatch(session, hash_key)
    device_id = subject.get("device_id")
    if device_id is not None and not batch.consents(device_id):
        return None
    calls = batch.calls_of(org, subject["upload_id"])
    return {"upload_id": subject["upload_id"], "calls": calls} if calls else None


class PayloadBatch:
    """What a batch of deliveries reads once rather than once each: the
    calls of every `call.logged` upload in it (one query, one erasure
    look-up per organisation) and each phone's call-log consent."""

    def __init__(self, session, hash_key: str):
        self.session = session
        self.hash_key = hash_key
        self._consent: dict[int, bool] = {}
        self._calls: dict[int, list] = {}

    def consents(self, device_id: int) -> bool:
        if device_id not in self._consent:
            self._consent[device_id] = has_consent(self.session, device_id, "call_log")
        return self._consent[device_id]

    def prefetch(self, organization_id: int, upload_ids: list[int]) -> None:
        wanted = [u for u in set(upload_ids) if u not in self._calls]
        if not wanted:
            return
        rows = self.session.execute(select(
            Call.id, Call.upload_id, Call.e164, Call.call_type, Call.started_at, Call.duration_s, Call.user_id,
            Call.device_id, Call.record_type, Call.record_id).where(
            Call.organization_id == organization_id, Call.upload_id.in_(wanted)).order_by(Call.id)).all()
        erased = erased_numbers(self.session, organization_id, [row.e164 for row in rows], self.hash_key)
        for upload_id in wanted:
            self._calls[upload_id] = []
        for row in rows:
            if row.e164 is not None and row.e164 in erased:
                continue
            self._calls[row.upload_id].append({
                "id": row.id, "number": row.e164, "type": LABELS.get(row.call_type),
                "started_at": _iso(row.started_at), "duration_s": row.duration_s, "user_id": row.user_id,
                "device_id": row.device_id, "record_type": row.record_type, "record_id": row.record_id})

    def calls_of(self, organization_id: int, upload_id: int) -> list:
        self.prefetch(organization_id, [upload_id])
        return self._calls[upload_id]


def _as_given(session, org: int, subject: dict, hash_key: str) -> dict:
    return dict(subject)


BUILDERS = {
    "lead.created": _lead, "lead.approved": _lead, "lead.rejected": _lead, "lead.merged": _lead,
    "lead.assigned": _lead,
    "call.logged": _calls,
    "contact.created": _contact, "contact.updated": _contact, "contact.deleted": _contact_deleted,
    "task.created": _task, "task.completed": _task,
    "erasure.completed": _as_given,  # counts only
    "webhook.test": _as_given,
}


def event_data(session, organization_id: int, type_: str, subject: dict, hash_key: str,
               batch: PayloadBatch | None = None) -> dict | None:
    """The `data` of the event, or None when nothing may be sent any more."""
    if type_ == "call.logged":
        return _calls(session, organization_id, subject, hash_key, batch)
    return BUILDERS[type_](session, organization_id, subject, hash_key)
