"""Statements of background contact imports (`mobile_sync.contact_imports`):
the run's row (created under the one-import-per-organisation rule, claimed
by the job, its progress and its end) and the uploaded file's chunks. Every
statement is scoped by the organisation it is given, but the sweep of
uploads abandoned for a day, which is every organisation's by design."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, and_, delete, literal, select, update
from sqlalchemy.exc import IntegrityError

from mobile_sync.errors import conflict
from mobile_sync.store.models import ContactImportChunk, ContactImportRun

_RUNS, _CHUNKS = ContactImportRun.__table__, ContactImportChunk.__table__
ACTIVE = ("queued", "running")


def _of(organization_id: int, run_id: int):
    """The run, if it is the organisation's."""
    return and_(_RUNS.c.id == run_id, _RUNS.c.organization_id == organization_id)


def create_run(session, organization_id: int, *, user_id: int | None, owner_id: int | None, filename: str,
               region: str | None, mapping: dict | None, now: datetime, stale_before: datetime) -> int:
    """A queued run of the organisation; 409 while another is queued or
    running (the unique `running_for` decides, so two at once cannot both
    pass). A run with no progress since `stale_before` (its worker died)
    is failed first, so that it blocks nobody."""
    session.execute(update(_RUNS).where(
        _RUNS.c.organization_id == organization_id, _RUNS.c.running_for.is_not(None),
        _RUNS.c.updated_at < stale_before,
    ).values(state="failed", running_for=None, finished_at=now,
             message="The import stopped without finishing (its worker was lost). Importing the file again "
                     "adds only the rest."))
    run = ContactImportRun(organization_id=organization_id, user_id=user_id, owner_id=owner_id,
                           running_for=organization_id, state="queued", filename=filename[:200], region=region,
                           mapping=mapping, errors=[], bytes_total=0, bytes_read=0, imported=0, merged=0,
                           failed=0, created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        raise conflict("import_running", "An import of this organisation is running: wait for it to finish.")
    return run.id


def store_chunk(session, organization_id: int, run_id: int, seq: int, data: bytes) -> None:
    """One piece of the run's file (the run must be the organisation's)."""
    session.execute(_CHUNKS.insert().from_select(
        ["run_id", "seq", "organization_id", "data"],
        select(_RUNS.c.id, literal(seq, Integer), _RUNS.c.organization_id, literal(data, LargeBinary))
        .where(_of(organization_id, run_id))))


def set_size(session, organization_id: int, run_id: int, size: int) -> None:
    session.execute(update(_RUNS).where(_RUNS.c.id == run_id, _RUNS.c.organization_id == organization_id)
                    .values(bytes_total=size))


def read_chunk(session, organization_id: int, run_id: int, seq: int) -> bytes | None:
    """The run's piece `seq`, or None past the last."""
    return session.execute(select(_CHUNKS.c.data).join(_RUNS, _RUNS.c.id == _CHUNKS.c.run_id).where(
        _of(organization_id, run_id), _CHUNKS.c.seq == seq)).scalar_one_or_none()


def get_run(session, organization_id: int, run_id: int) -> ContactImportRun | None:
    return session.execute(select(ContactImportRun).where(
        ContactImportRun.id == run_id, ContactImportRun.organization_id == organization_id)).scalar_one_or_none()


def recent_runs(session, organization_id: int, limit: int = 10, offset: int = 0) -> list[ContactImportRun]:
    """The organisation's latest runs, newest first, `offset` skipped."""
    return list(session.execute(select(ContactImportRun).where(ContactImportRun.organization_id == organization_id)
                                .order_by(ContactImportRun.id.desc()).offset(offset).limit(limit)).scalars())


def claim_run(session, organization_id: int, run_id: int, now: datetime) -> bool:
    """Queued → running; False when it is not queued (RQ ran the job twice, or it ended)."""
    claimed = session.execute(update(_RUNS).where(
        _RUNS.c.id == run_id, _RUNS.c.organization_id == organization_id, _RUNS.c.state == "queued",
    ).values(state="running", updated_at=now).returning(_RUNS.c.id)).scalar_one_or_none()
    return claimed is not None


def record_progress(session, organization_id: int, run_id: int, now: datetime, **counts) -> None:
    """The run's progress: bytes_read, imported, merged, failed, format."""
    session.execute(update(_RUNS).where(_RUNS.c.id == run_id, _RUNS.c.organization_id == organization_id)
                    .values(updated_at=now, **counts))


def finish_run(session, organization_id: int, run_id: int, state: str, now: datetime, **outcome) -> None:
    """The run ends (done or failed, with its counts, errors or message); its file is deleted."""
    session.execute(update(_RUNS).where(_RUNS.c.id == run_id, _RUNS.c.organization_id == organization_id)
                    .values(state=state, running_for=None, finished_at=now, updated_at=now, **outcome))
    session.execute(delete(_CHUNKS).where(_CHUNKS.c.run_id.in_(select(_RUNS.c.id).where(
        _of(organization_id, run_id)))))


def forget_abandoned_uploads(session, before: datetime) -> None:
    """Every organisation's import files of runs created before `before` (a
    day ago): deleted, and a run still queued then failed."""
    old = select(_RUNS.c.id).where(_RUNS.c.created_at < before)
    session.execute(update(_RUNS).where(_RUNS.c.id.in_(old), _RUNS.c.state.in_(ACTIVE)).values(
        state="failed", running_for=None, finished_at=before,
        message="The import did not start within a day; its file was deleted."))
    session.execute(delete(_CHUNKS).where(_CHUNKS.c.run_id.in_(old)))
