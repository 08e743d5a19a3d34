"""crm_person_links: a pulled CRM person and the contact it became

So that a person renamed in the CRM renames its contact at the next pull
instead of being imported as a second contact with the same number.

Revision ID: d7f9b1c3e5a8
Revises: c5e7a9b1d3f6
Create Date: 2026-12-04 13:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7f9b1c3e5a8'
down_revision = 'c5e7a9b1d3f6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('crm_person_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['crm_connections.id'], name=op.f('fk_crm_person_links_connection_id_crm_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_crm_person_links_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_crm_person_links_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_person_links')),
    sa.UniqueConstraint('organization_id', 'connection_id', 'person_id', name=op.f('uq_crm_person_links_organization_id_connection_id_person_id'))
    )
    with op.batch_alter_table('crm_person_links', schema=None) as batch_op:
        batch_op.create_index('ix_crm_person_links_contact_id', ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_person_links_organization_id'), ['organization_id'], unique=False)


def downgrade():
    with op.batch_alter_table('crm_person_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_person_links_organization_id'))
        batch_op.drop_index('ix_crm_person_links_contact_id')
    op.drop_table('crm_person_links')
