"""Persistence: statements that are raw, dialect-specific or sent to the
driver, and the locking discipline (`locks`)."""
