"""contact_import_speed: contacts lose the index on organization_id alone

Every index of contacts that a read uses starts with organization_id (the
search prefixes, the list orders, creation order), so the one on the column
alone served nothing that they do not, and a bulk import wrote one more
index entry per contact (as e7c1b9d4f2a3 found for record_phones and
directory_changes). Reserved for contact files (4 December evening).

Revision ID: 2f4b6d8fa031
Revises: 1e3a5c7e9b20
Create Date: 2026-12-04 16:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '2f4b6d8fa031'
down_revision = '1e3a5c7e9b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_organization_id')


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_organization_id', ['organization_id'], unique=False)
