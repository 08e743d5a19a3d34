"""Persistence: statements that are raw, dialect-specific or sent to the
driver, and the locking discipline (`locks`).

Importing the package registers the directory log's flush listener
(`directory_log`) once, for every session of the process."""
from mobile_sync.store import directory_log  # noqa: F401
