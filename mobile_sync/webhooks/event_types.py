"""The event types an endpoint may subscribe to, named once (docs/api.md, "Webhooks out")."""
from __future__ import annotations

EVENT_TYPES = (
    "lead.created", "lead.approved", "lead.rejected", "lead.merged", "lead.assigned",
    "call.logged",
    "contact.created", "contact.updated", "contact.deleted",
    "task.created", "task.completed",
    "erasure.completed",
)
# Sent by "test send" only; nobody subscribes to it.
TEST_EVENT = "webhook.test"
