"""record_phones, directory_changes: drop the index on organization_id alone

Both tables have indexes that start with organization_id, so the one on the
column alone served nothing: every bulk insert paid for it, and on a new
organisation (no statistics yet) PostgreSQL chose it for call matching's probe
of (organization_id, e164), reading the organisation's every number per call.

Revision ID: e7c1b9d4f2a3
Revises: d3a9f61c7e25
Create Date: 2026-12-04 01:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e7c1b9d4f2a3'
down_revision = 'd3a9f61c7e25'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('record_phones', schema=None) as batch_op:
        batch_op.drop_index('ix_record_phones_organization_id')
    with op.batch_alter_table('directory_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_directory_changes_organization_id')


def downgrade():
    with op.batch_alter_table('directory_changes', schema=None) as batch_op:
        batch_op.create_index('ix_directory_changes_organization_id', ['organization_id'], unique=False)
    with op.batch_alter_table('record_phones', schema=None) as batch_op:
        batch_op.create_index('ix_record_phones_organization_id', ['organization_id'], unique=False)
