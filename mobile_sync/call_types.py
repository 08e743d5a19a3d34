"""Android's call types (`CallLog.Calls.TYPE`), named once: what a call was,
which of them mean the two sides spoke, and which may make a lead."""
from __future__ import annotations

from enum import IntEnum


class CallType(IntEnum):
    INCOMING = 1
    OUTGOING = 2
    MISSED = 3
    VOICEMAIL = 4
    REJECTED = 5
    BLOCKED = 6
    ANSWERED_EXTERNALLY = 7

    @property
    def label(self) -> str:
        """The name the API and settings use: "incoming", "answered_externally"."""
        return self.name.lower()


# The two sides spoke (when the duration is above zero): "last spoken".
CONNECTED = frozenset({CallType.INCOMING, CallType.OUTGOING, CallType.ANSWERED_EXTERNALLY})
# The API's name of each type, by Android's code.
LABELS = {int(t): t.label for t in CallType}
# Types an organisation may choose to make leads from (a blocked call never does).
LEAD_RULE_TYPES = {t.label: int(t) for t in CallType if t is not CallType.BLOCKED}
