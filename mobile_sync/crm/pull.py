"""The pull: a CRM's people into CallSync's contacts, so that caller ID knows
them. Incremental (the CRM's "updated since" the latest change the previous
pull read), by bounded pages; each page goes into contacts
(`mobile_sync.crm.pulled_people`: a new person through the contact import,
a person pulled before updating its contact) and is committed with the page
cursor, so a crash resumes where it stopped. The people a page says the CRM
deleted since are undone in the same transaction
(`mobile_sync.crm.deleted_people`): a page read again finds their links
gone and changes nothing. One pull per connection at a time (`claim_pull`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mobile_sync.crm.client import AuthFailed, CrmError
from mobile_sync.crm.deleted_people import forget_people
from mobile_sync.crm.pulled_people import import_people
from mobile_sync.errors import ServiceError
from mobile_sync.store.crm_connections import (
    claim_pull, connection_by_id, extend_pull, finish_pull, mark_auth_failed, mark_error, record_pull_page,
    release_pull,
)
from mobile_sync.store.models import Organization
from mobile_sync.webhooks.sealing import unseal

PAGES_PER_RUN = 50  # then the job ends and the sweep's next run goes on from the cursor


def pull_lease(timeout_s: float) -> timedelta:
    """How long a puller holds the connection between two pages."""
    return timedelta(seconds=120 + 2 * timeout_s)


@dataclass
class PullResult:
    ran: bool  # False: another pull holds the connection
    people: int = 0
    deleted: int = 0  # contacts deleted because the CRM deleted their person
    finished: bool = False
    error: str | None = None


def run_pull(session, connection_id: int, *, make_client, sealing_key: str, hash_key: str, now, commit,
             timeout_s: float, pages: int | None = None) -> PullResult:
    pages = pages or PAGES_PER_RUN
    lease = pull_lease(timeout_s)
    taken = claim_pull(session, connection_id, now(), lease)
    commit()
    if not taken:
        return PullResult(ran=False)
    connection = connection_by_id(session, connection_id)
    if connection is None or connection.status != "connected":
        if connection is not None:
            release_pull(connection)
        commit()
        return PullResult(ran=True, error="not_connected")
    result = PullResult(ran=True)
    client = None
    try:
        client = make_client(connection.crm, unseal(sealing_key, connection.token))
        org = session.get(Organization, connection.organization_id)
        for _ in range(pages):
            page = client.people_updated_since(connection.pull_since, connection.pull_cursor)
            import_people(session, org, connection.id, connection.crm, page.people, hash_key, now())
            removed = forget_people(session, org, connection.id, connection.crm, page.deleted, hash_key, now())
            seen = max((p.updated_at for p in page.people if p.updated_at is not None), default=None)
            record_pull_page(connection, page.cursor, seen, people=len(page.people), removed=removed)
            extend_pull(connection, now(), lease)
            result.people += len(page.people)
            result.deleted += removed
            if page.cursor is None:
                finish_pull(connection, now())
                result.finished = True
                commit()
                return result
            commit()
        release_pull(connection)  # more pages: the sweep goes on from the cursor
        commit()
        return result
    except AuthFailed as err:
        session.rollback()
        connection = connection_by_id(session, connection_id)
        mark_auth_failed(connection, err.status, now())
        result.error = "auth_failed"
    except (CrmError, ServiceError, ValueError) as err:
        session.rollback()
        connection = connection_by_id(session, connection_id)
        result.error = "import_failed" if isinstance(err, ServiceError) else "unavailable"
        mark_error(connection, result.error, getattr(err, "status", None))
    finally:
        if client is not None and hasattr(client, "close"):
            client.close()
    release_pull(connection)
    commit()
    return result
