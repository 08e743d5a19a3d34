"""All models, imported so the metadata is complete for migrations."""
from server.models.base import Base, OrgScoped, UTCDateTime, utcnow  # noqa: F401
from server.models.accounts import (  # noqa: F401
    AccessToken, ApiKey, Invite, LoginFailure, Organization, User,
)
from server.models.devices import ConsentEvent, ConsentState, Device  # noqa: F401
from server.models.records import Contact, Lead, Note, RecordPhone, Suppression, Task  # noqa: F401
from server.models.calls import Call, SyncCursor, SyncUpload  # noqa: F401
from server.models.phonebook import PhonebookContact, PhonebookNumber  # noqa: F401
from server.models.erasure import ErasedNumber  # noqa: F401
from server.models.push import DirectoryChange, PushMessage  # noqa: F401
from server.models.audit import AccessEvent, RequestCounter  # noqa: F401
