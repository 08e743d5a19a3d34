"""reports: each lead's first response kept on its row, and the indexes the reports read (issue 19)

`leads.first_response_at`: the first processed outgoing call with the
lead's number at or after its first call (else its creation), filled here
from the calls and kept by `mobile_sync.store.lead_figures` after. The
index `ix_leads_report` (organisation, creation) carries what the leads
report reads (PostgreSQL: INCLUDE; elsewhere the key only).
`ix_report_call_days_items` (organisation, day, user) carries the figures
the calls report per user and day reads, so that read is index-only on
PostgreSQL too.

Revision ID: a1c3e5f7b9d2
Revises: f8c5e2a7b1d9
Create Date: 2026-12-04 13:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1c3e5f7b9d2'
down_revision = 'f8c5e2a7b1d9'
branch_labels = None
depends_on = None

FILL = """
UPDATE leads SET first_response_at = (
  SELECT min(c.started_at) FROM calls c
  WHERE c.organization_id = leads.organization_id AND c.e164 = leads.phone AND c.call_type = 2
    AND c.processed_at IS NOT NULL AND c.started_at >= coalesce(leads.first_call_at, leads.created_at))
WHERE phone IS NOT NULL
"""


def upgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_leads_report', ['organization_id', 'created_at'], unique=False,
                              postgresql_include=['source', 'status', 'owner_id', 'first_call_at',
                                                  'first_response_at'])
    op.execute(FILL)
    with op.batch_alter_table('report_call_days', schema=None) as batch_op:
        batch_op.create_index('ix_report_call_days_items', ['organization_id', 'day', 'user_id'], unique=False,
                              postgresql_include=['incoming', 'outgoing', 'missed', 'rejected', 'connected',
                                                  'talk_seconds', 'unique_numbers', 'hours_counted', 'in_hours'])


def downgrade():
    with op.batch_alter_table('report_call_days', schema=None) as batch_op:
        batch_op.drop_index('ix_report_call_days_items')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_report')
        batch_op.drop_column('first_response_at')
