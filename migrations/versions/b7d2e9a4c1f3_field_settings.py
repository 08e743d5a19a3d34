"""devices: tracked accounts, health, nudged_at; private_numbers; silent_phones_digests

Field realities (issue 21): the Android PHONE_ACCOUNT_IDs a phone keeps calls
of (work SIM only), the app's latest health report and when the phone was
last asked to open the app; the numbers each user marked private (a keyed
hash and a two-digit hint, never the number); one row per organisation and
day the silent-phones digest was sent.

Revision ID: b7d2e9a4c1f3
Revises: e4b8c2d6f1a9
Create Date: 2026-12-04 04:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d2e9a4c1f3'
down_revision = 'e4b8c2d6f1a9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracked_accounts', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('health', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('health_reported_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('nudged_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('private_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('number_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_private_numbers_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_private_numbers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_private_numbers')),
    sa.UniqueConstraint('user_id', 'number_hash', name=op.f('uq_private_numbers_user_id_number_hash'))
    )
    with op.batch_alter_table('private_numbers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_private_numbers_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_private_numbers_user_id'), ['user_id'], unique=False)
    op.create_table('silent_phones_digests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('phones', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_silent_phones_digests_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_silent_phones_digests')),
    sa.UniqueConstraint('organization_id', 'day', name=op.f('uq_silent_phones_digests_organization_id_day'))
    )
    with op.batch_alter_table('silent_phones_digests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_silent_phones_digests_organization_id'), ['organization_id'], unique=False)


def downgrade():
    with op.batch_alter_table('silent_phones_digests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_silent_phones_digests_organization_id'))
    op.drop_table('silent_phones_digests')
    with op.batch_alter_table('private_numbers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_private_numbers_user_id'))
        batch_op.drop_index(batch_op.f('ix_private_numbers_organization_id'))
    op.drop_table('private_numbers')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('nudged_at')
        batch_op.drop_column('health_reported_at')
        batch_op.drop_column('health')
        batch_op.drop_column('tracked_accounts')
