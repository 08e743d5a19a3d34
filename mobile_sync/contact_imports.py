"""Contact files imported in the background, with their progress: the
import page keeps the file in the database in chunks (`start_import`) and
queues a job with the run's ids only; the job, on any machine, reads the
file back a chunk at a time (`ChunkedFile`) and imports it
(`contacts_csv.import_contact_file`), writing the bytes read and the counts
after each block, and at the end the first errors by line
(`run_import`). One import per organisation runs at a time."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import BinaryIO, Callable

from mobile_sync import contacts_csv
from mobile_sync.errors import ServiceError, not_found
from mobile_sync.store import contact_import_runs as runs
from mobile_sync.store.models import Organization

CHUNK_BYTES = 1 << 20  # a piece of the file in the database
ERRORS_KEPT = 20  # the first errors a run keeps, by line
STALE_AFTER = timedelta(minutes=15)  # a run without progress for this long lost its worker
UPLOAD_TTL = timedelta(days=1)


def start_import(session, *, org_id: int, user_id: int | None, owner_id: int | None, region: str | None,
                 stream: BinaryIO, filename: str, mapping: dict | None, now: datetime) -> int:
    """A queued run with the file read from `stream` (a dry run accepted it
    already); 409 while another import of the organisation is queued or
    running. Flushes; the caller commits, then queues `run_import`."""
    runs.forget_abandoned_uploads(session, now - UPLOAD_TTL)
    run_id = runs.create_run(session, org_id, user_id=user_id, owner_id=owner_id, filename=filename,
                             region=region, mapping=mapping, now=now, stale_before=now - STALE_AFTER)
    size, seq = 0, 0
    while piece := stream.read(CHUNK_BYTES):
        runs.store_chunk(session, org_id, run_id, seq, piece)
        size, seq = size + len(piece), seq + 1
    runs.set_size(session, org_id, run_id, size)
    session.flush()
    return run_id


class ChunkedFile:
    """The run's file as a binary stream, one chunk from the database at a time."""

    def __init__(self, session, organization_id: int, run_id: int):
        self._args = (session, organization_id, run_id)
        self._seq, self._buffer, self._done = 0, b"", False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            piece = runs.read_chunk(*self._args, self._seq)
            if piece is None:
                self._done = True
            else:
                self._buffer += piece
                self._seq += 1
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def run_import(session, organization_id: int, run_id: int, *, hash_key: str, clock: Callable[[], datetime],
               commit: Callable[[], None], workers: int = 1) -> str | None:
    """Import the run's file, once (a job run twice finds it claimed):
    progress committed after each block, the outcome at the end, the file
    deleted. Returns the run's final state, or None when it was not queued."""
    if not runs.claim_run(session, organization_id, run_id, clock()):
        session.rollback()
        return None
    commit()
    run = runs.get_run(session, organization_id, run_id)
    org = session.get(Organization, organization_id)
    total, mapping, region, owner_id = run.bytes_total, run.mapping, run.region, run.owner_id
    session.expunge(run)  # the row is written by statements from here on

    def progress(_stage: str, done: int, _total: int, report: contacts_csv.ImportReport) -> None:
        runs.record_progress(session, organization_id, run_id, clock(), bytes_read=done, format=report.format,
                             imported=report.imported, merged=report.duplicates, failed=report.failed)
        commit()

    try:
        report = contacts_csv.import_contact_file(
            session, org=org, stream=ChunkedFile(session, organization_id, run_id), owner_id=owner_id,
            region=region, hash_key=hash_key, now=clock(), workers=workers, checkpoint=commit, size=total,
            progress=progress, mapping=mapping)
    except ServiceError as err:
        session.rollback()
        runs.finish_run(session, organization_id, run_id, "failed", clock(), message=_message(err))
        commit()
        return "failed"
    except Exception:
        session.rollback()
        runs.finish_run(session, organization_id, run_id, "failed", clock(),
                        message="The import failed on an error of the service. Importing the file again adds "
                                "only the rest.")
        commit()
        raise
    runs.finish_run(session, organization_id, run_id, "done", clock(), bytes_read=total, format=report.format,
                    imported=report.imported, merged=report.duplicates, failed=report.failed,
                    errors=report.errors[:ERRORS_KEPT])
    commit()
    return "done"


def give_up_unqueued(session, organization_id: int, run_id: int, now: datetime) -> None:
    """The run's job could not be queued: fail the run, if it is still
    queued (without Redis the job ran, and ended the run, already)."""
    if runs.claim_run(session, organization_id, run_id, now):
        runs.finish_run(session, organization_id, run_id, "failed", now,
                        message="The import could not be queued for a worker. Choose the file again.")


def _message(err: ServiceError) -> str:
    details = [f"{name}: {text}" for name, texts in (err.fields or {}).items()
               for text in (texts if isinstance(texts, list) else [texts])]
    return " ".join([err.message, *details])


def import_run(session, organization_id: int, run_id: int):
    """The organisation's run; 404 for another organisation's or none."""
    run = runs.get_run(session, organization_id, run_id)
    if run is None:
        raise not_found("import")
    return run


def recent_imports(session, organization_id: int, limit: int = 10) -> list:
    return runs.recent_runs(session, organization_id, limit)


def imports_page(session, organization_id: int, *, limit: int, page: int) -> tuple[list, int | None]:
    """The organisation's imports, newest first, `limit` a page: (runs, next page or None)."""
    rows = runs.recent_runs(session, organization_id, limit + 1, (page - 1) * limit)
    return rows[:limit], (page + 1 if len(rows) > limit else None)
