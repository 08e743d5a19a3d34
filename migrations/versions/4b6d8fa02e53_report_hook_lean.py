"""report_hook_lean: no schema change (reserved for the reports' processing hook, 4 December evening)

The hook's work this evening (one hook handed the run's calls once; the
leads' first responses taken from the run's outgoing calls without a probe
of the calls) needed no column or index. Dropping `report_missed_calls`'
foreign key to `calls` (its check costs the missed upsert a look-up per new
row: at 1M calls the upsert ran 13.7 ms a run, 7.2 of them in its plan, the
rest mostly those checks) was considered but not done: an organisation's
purge deletes its calls by cascade, which would then leave their missed
rows behind.

Revision ID: 4b6d8fa02e53
Revises: 3a5c7e9b1d42
Create Date: 2026-12-04 16:40:00

"""


# revision identifiers, used by Alembic.
revision = '4b6d8fa02e53'
down_revision = '3a5c7e9b1d42'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
