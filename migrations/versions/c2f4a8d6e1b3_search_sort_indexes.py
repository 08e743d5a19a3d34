"""contacts, leads: indexes that give a list page in its order (issue 18)

The search prefixes' indexes on lower(name), lower(company), lower(email)
carry the id after the text, so that a prefix's page comes out of the index
in order (ties by id) instead of every match being read and sorted; and the
orders of a list: contacts newest first (organisation, created_at, id), and
contacts and leads by latest call (organisation, last_call_at, id).
mobile_sync/record_pages.py reads them.

Revision ID: c2f4a8d6e1b3
Revises: b7d2e9a4c1f3
Create Date: 2026-12-04 06:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c2f4a8d6e1b3'
down_revision = 'b7d2e9a4c1f3'
branch_labels = None
depends_on = None

TABLES = ("contacts", "leads")
COLUMNS = ("name", "company", "email")


def _prefix_index(table: str, column: str, with_id: bool) -> None:
    key = f"{column}_lower"
    op.create_index(f"ix_{table}_{column}_prefix", table,
                    ["organization_id", sa.func.lower(sa.column(column)).label(key)] + (["id"] if with_id else []),
                    postgresql_ops={key: "text_pattern_ops"})


def upgrade():
    for table in TABLES:
        for column in COLUMNS:
            op.drop_index(f"ix_{table}_{column}_prefix", table_name=table)
            _prefix_index(table, column, with_id=True)
        op.create_index(f"ix_{table}_org_last_call", table, ["organization_id", "last_call_at", "id"])
    op.create_index("ix_contacts_org_created", "contacts", ["organization_id", "created_at", "id"])


def downgrade():
    op.drop_index("ix_contacts_org_created", table_name="contacts")
    for table in TABLES:
        op.drop_index(f"ix_{table}_org_last_call", table_name=table)
        for column in COLUMNS:
            op.drop_index(f"ix_{table}_{column}_prefix", table_name=table)
            _prefix_index(table, column, with_id=False)
