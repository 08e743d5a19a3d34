"""contacts, leads: indexes on lower(name), lower(company), lower(email)

The search box's prefixes (mobile_sync/record_search.py) read them; on
PostgreSQL with `text_pattern_ops`, so that `LIKE 'prefix%'` uses them under
any collation.

Revision ID: a4e6c2f8d1b7
Revises: f2d8a4c6b913
Create Date: 2026-12-04 03:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4e6c2f8d1b7'
down_revision = 'f2d8a4c6b913'
branch_labels = None
depends_on = None

TABLES = ("contacts", "leads")
COLUMNS = ("name", "company", "email")


def upgrade():
    for table in TABLES:
        for column in COLUMNS:
            key = f"{column}_lower"
            op.create_index(f"ix_{table}_{column}_prefix", table,
                            ["organization_id", sa.func.lower(sa.column(column)).label(key)],
                            postgresql_ops={key: "text_pattern_ops"})


def downgrade():
    for table in TABLES:
        for column in COLUMNS:
            op.drop_index(f"ix_{table}_{column}_prefix", table_name=table)
