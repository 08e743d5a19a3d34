"""Domain logic of the sync service. No Flask here: functions take a SQLAlchemy
session and plain values, flush, and never commit."""
