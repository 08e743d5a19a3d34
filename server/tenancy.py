"""Tenant isolation in one place.

When a request is authenticated, its organisation id is set on the session;
every ORM SELECT made through that session is then filtered to rows of that
organisation for every `OrgScoped` model. A view cannot forget the filter,
and another organisation's row is simply "not found" (404).
"""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, with_loader_criteria

from mobile_sync.store.models.base import OrgScoped

ORG_KEY = "organization_id"


def set_session_organization(session, organization_id: int | None) -> None:
    session.info[ORG_KEY] = organization_id


@event.listens_for(Session, "do_orm_execute")
def _scope_to_organization(state) -> None:
    org_id = state.session.info.get(ORG_KEY)
    if (org_id is None or not state.is_select or state.is_column_load or state.is_relationship_load
            or state.execution_options.get("all_organizations")):
        return
    state.statement = state.statement.options(
        with_loader_criteria(OrgScoped, lambda cls: cls.organization_id == org_id, include_aliases=True)
    )
