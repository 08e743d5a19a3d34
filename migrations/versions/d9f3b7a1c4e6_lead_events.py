"""lead_events: the review history of each lead

Who approved, rejected (and why), merged (into which kind of record),
reassigned (from and to whom) or edited (which fields) a lead, and when:
ids and short codes, never a name or a number. Rows go with their lead
(ON DELETE CASCADE), so erasing a lead erases its history.

Revision ID: d9f3b7a1c4e6
Revises: c8e5a1f3b6d2
Create Date: 2026-12-04 03:46:50.044998

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd9f3b7a1c4e6'
down_revision = 'c8e5a1f3b6d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lead_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.String(length=64), nullable=True),
    sa.Column('from_user_id', sa.Integer(), nullable=True),
    sa.Column('to_user_id', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_lead_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], name=op.f('fk_lead_events_from_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_events_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_lead_events_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], name=op.f('fk_lead_events_to_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_events'))
    )
    with op.batch_alter_table('lead_events', schema=None) as batch_op:
        batch_op.create_index('ix_lead_events_lead', ['lead_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_events_organization_id'), ['organization_id'], unique=False)


def downgrade():
    with op.batch_alter_table('lead_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_events_organization_id'))
        batch_op.drop_index('ix_lead_events_lead')

    op.drop_table('lead_events')
