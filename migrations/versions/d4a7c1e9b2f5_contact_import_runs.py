"""Contact files in (issue 18): imports run in the background, with their progress.

contact_import_runs: one row per import of a file (state, bytes read of the
total, counts, the first errors by line; `running_for`, unique, holds the
organisation while the run is queued or running: one at a time each).
contact_import_chunks: the uploaded file in pieces, for a worker on another
machine; deleted when the run ends or after a day (a file in transit, not
part of the organisation's data export).

Revision ID: d4a7c1e9b2f5
Revises: c2f4a8d6e1b3
Create Date: 2026-12-04 06:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4a7c1e9b2f5'
down_revision = 'c2f4a8d6e1b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contact_import_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('running_for', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('region', sa.String(length=2), nullable=True),
    sa.Column('mapping', sa.JSON(), nullable=True),
    sa.Column('format', sa.String(length=32), nullable=True),
    sa.Column('bytes_total', sa.BigInteger(), nullable=False),
    sa.Column('bytes_read', sa.BigInteger(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('merged', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_contact_import_runs_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_contact_import_runs_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['running_for'], ['organizations.id'], name=op.f('fk_contact_import_runs_running_for_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_contact_import_runs_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_import_runs')),
    sa.UniqueConstraint('running_for', name=op.f('uq_contact_import_runs_running_for'))
    )
    with op.batch_alter_table('contact_import_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_import_runs_organization_id'), ['organization_id'], unique=False)

    op.create_table('contact_import_chunks',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_contact_import_chunks_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['contact_import_runs.id'], name=op.f('fk_contact_import_chunks_run_id_contact_import_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'seq', name=op.f('pk_contact_import_chunks'))
    )
    with op.batch_alter_table('contact_import_chunks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_import_chunks_organization_id'), ['organization_id'], unique=False)


def downgrade():
    with op.batch_alter_table('contact_import_chunks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_import_chunks_organization_id'))
    op.drop_table('contact_import_chunks')
    with op.batch_alter_table('contact_import_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_import_runs_organization_id'))
    op.drop_table('contact_import_runs')
