"""crm_connections: what the last pull did, counted over its whole pull

`last_pull_removed`: the contacts the last pull deleted because the CRM
deleted their person. A pull longer than one job run (50 pages) resumes
from its cursor in the next: `pull_people_so_far` and
`pull_removed_so_far` add up its pages as they are committed, and become
`last_pull_count` and `last_pull_removed` when it finishes (before, the
count was its last run's only).

Revision ID: b2c4d6e8f0a1
Revises: a1f2e3d4c5b6
Create Date: 2026-12-05 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2c4d6e8f0a1'
down_revision = 'a1f2e3d4c5b6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('crm_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_pull_removed', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pull_people_so_far', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('pull_removed_so_far', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('crm_connections', schema=None) as batch_op:
        batch_op.drop_column('pull_removed_so_far')
        batch_op.drop_column('pull_people_so_far')
        batch_op.drop_column('last_pull_removed')
