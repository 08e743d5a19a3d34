"""All models, imported so the metadata is complete for migrations."""
from mobile_sync.store.models.base import Base, OrgScoped, UTCDateTime, utcnow  # noqa: F401
from mobile_sync.store.models.accounts import (  # noqa: F401
    AccessToken, ApiKey, Invite, LoginFailure, Organization, User,
)
from mobile_sync.store.models.devices import ConsentEvent, ConsentState, Device  # noqa: F401
from mobile_sync.store.models.records import Contact, Lead, Note, RecordPhone, Suppression, Task  # noqa: F401
from mobile_sync.store.models.calls import Call, SyncCursor, SyncUpload  # noqa: F401
from mobile_sync.store.models.phonebook import PhonebookContact, PhonebookNumber  # noqa: F401
from mobile_sync.store.models.erasure import ErasedNumber  # noqa: F401
from mobile_sync.store.models.push import DirectoryChange, PushMessage  # noqa: F401
from mobile_sync.store.models.audit import AccessEvent, RequestCounter  # noqa: F401
from mobile_sync.store.models.reports import CallDay, MissedCallback  # noqa: F401
from mobile_sync.store.models.report_leads import LeadDay  # noqa: F401
from mobile_sync.store.models.webhooks import WebhookDelivery, WebhookEndpoint  # noqa: F401
from mobile_sync.store.models.contact_imports import ContactImportChunk, ContactImportRun  # noqa: F401
from mobile_sync.store.models.crm import CrmConnection, CrmPersonLink, CrmPush  # noqa: F401
