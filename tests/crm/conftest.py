"""Fixtures of the CRM connector tests: a fake HubSpot and a fake Pipedrive
on 127.0.0.1, the app pointed at HubSpot, an admin whose organisation is
connected, and a rep's phone."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.crm.fake_hubspot import FakeHubSpot
from tests.crm.fake_pipedrive import FakePipedrive

TOKEN = "pat-na1-good-token-1234"


@pytest.fixture
def hubspot():
    server = FakeHubSpot(token=TOKEN)
    yield server
    server.close()


@pytest.fixture
def pipedrive():
    server = FakePipedrive()
    yield server
    server.close()


@pytest.fixture
def crm_app(clean_app, hubspot):
    clean_app.config.update(HUBSPOT_API_URL=hubspot.url, CRM_TIMEOUT_S=2.0)
    yield clean_app
    clean_app.extensions.pop("crm_client_factory", None)


@pytest.fixture
def connected(crm_app, make_org, make_user, make_device):
    """An admin connected to the fake HubSpot (every call type, no minimum), and a rep with a consenting phone."""
    admin = make_org(region="IN")
    response = admin.put("/api/v1/integrations/hubspot", json={
        "token": TOKEN, "call_types": ["incoming", "outgoing", "missed", "rejected"], "min_duration_s": 0})
    assert response.status_code == 200, response.json
    rep = make_device(make_user(admin, name="Ravi Rep"))
    return admin, rep


def pushes(app, **where):
    from mobile_sync.store.models import CrmPush
    from server.extensions import db

    with app.app_context():
        query = select(CrmPush).order_by(CrmPush.id)
        for key, value in where.items():
            query = query.where(getattr(CrmPush, key) == value)
        rows = db.session.execute(query.execution_options(all_organizations=True)).scalars().all()
        db.session.commit()
        return rows


def connection(app, crm="hubspot"):
    from mobile_sync.store.models import CrmConnection
    from server.extensions import db

    with app.app_context():
        row = db.session.execute(select(CrmConnection).where(CrmConnection.crm == crm)
                                 .execution_options(all_organizations=True)).scalar_one()
        db.session.commit()
        return row


def sweep(app) -> int:
    from server.crm_delivery import sweep_crm

    with app.app_context():
        return sweep_crm()
