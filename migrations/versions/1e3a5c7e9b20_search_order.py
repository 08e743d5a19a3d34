"""search_order: the search prefixes' indexes hold created_at (issue 18)

contacts and leads: ix_*_name_prefix, ix_*_company_prefix, ix_*_email_prefix
become (organization_id, lower(column), id, created_at), and on PostgreSQL
INCLUDE (column): its planner reads an expression index alone (an index-only
scan) only when the expression's columns are in the index. A prefix's
matches newest first are then read from the index alone and only the page's
rows from the table (mobile_sync.store.list_pages.newest_by_prefix). Each
index replaces the one before it (the same name, the same order: created_at
comes after the id), so an insert writes no more index entries than before.

Revision ID: 1e3a5c7e9b20
Revises: d7f9b1c3e5a8
Create Date: 2026-12-04 16:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1e3a5c7e9b20'
down_revision = 'd7f9b1c3e5a8'
branch_labels = None
depends_on = None

TABLES = ("contacts", "leads")
COLUMNS = ("name", "company", "email")


def _prefix_index(table: str, column: str, covering: bool) -> None:
    key = f"{column}_lower"
    op.drop_index(f"ix_{table}_{column}_prefix", table_name=table)
    op.create_index(f"ix_{table}_{column}_prefix", table,
                    ["organization_id", sa.func.lower(sa.column(column)).label(key), "id"]
                    + (["created_at"] if covering else []),
                    postgresql_ops={key: "text_pattern_ops"}, postgresql_include=[column] if covering else [])


def upgrade():
    for table in TABLES:
        for column in COLUMNS:
            _prefix_index(table, column, covering=True)


def downgrade():
    for table in TABLES:
        for column in COLUMNS:
            _prefix_index(table, column, covering=False)
