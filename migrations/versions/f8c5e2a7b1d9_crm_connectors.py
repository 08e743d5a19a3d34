"""crm_connections and crm_pushes: HubSpot and Pipedrive connectors (issue 20)

An organisation's connection to each CRM (its API token sealed, a hint of
it, the push rules, the status, the pull's cursor and claim) and one push
item per (organisation, CRM, call or lead): the ids, status and attempts;
never a body.

Revision ID: f8c5e2a7b1d9
Revises: e6b3d9f1a4c8
Create Date: 2026-12-04 06:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f8c5e2a7b1d9'
down_revision = 'e6b3d9f1a4c8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('crm_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('crm', sa.String(length=16), nullable=False),
    sa.Column('token', sa.String(length=1000), nullable=False),
    sa.Column('token_hint', sa.String(length=8), nullable=False),
    sa.Column('call_types', sa.JSON(), nullable=False),
    sa.Column('min_duration_s', sa.Integer(), nullable=False),
    sa.Column('push_leads', sa.Boolean(), nullable=False),
    sa.Column('pull_every_h', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('auth_failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=32), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_pulled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pull_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pull_cursor', sa.String(length=500), nullable=True),
    sa.Column('pull_seen_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pull_claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pull_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_pull_count', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_crm_connections_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_connections')),
    sa.UniqueConstraint('organization_id', 'crm', name=op.f('uq_crm_connections_organization_id_crm'))
    )
    with op.batch_alter_table('crm_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_connections_organization_id'), ['organization_id'], unique=False)

    op.create_table('crm_pushes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('crm', sa.String(length=16), nullable=False),
    sa.Column('subject_type', sa.String(length=8), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=32), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['crm_connections.id'], name=op.f('fk_crm_pushes_connection_id_crm_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_crm_pushes_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_pushes')),
    sa.UniqueConstraint('organization_id', 'crm', 'subject_type', 'subject_id', name=op.f('uq_crm_pushes_organization_id_crm_subject_type_subject_id'))
    )
    with op.batch_alter_table('crm_pushes', schema=None) as batch_op:
        batch_op.create_index('ix_crm_pushes_connection_id', ['connection_id', 'id'], unique=False)
        batch_op.create_index('ix_crm_pushes_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_pushes_organization_id'), ['organization_id'], unique=False)


def downgrade():
    with op.batch_alter_table('crm_pushes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_pushes_organization_id'))
        batch_op.drop_index('ix_crm_pushes_due')
        batch_op.drop_index('ix_crm_pushes_connection_id')
    op.drop_table('crm_pushes')
    with op.batch_alter_table('crm_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_connections_organization_id'))
    op.drop_table('crm_connections')
