"""record_phones: the exact probe's index covers the record (organization_id, e164, record_type, record_id)

Caller ID's exact probe (organization_id = ? AND e164 = ?) reads record_type
and record_id. With (organization_id, e164) alone, SQLite without statistics
(a fresh file, or statistics taken when the table was small) preferred the
unique index (organization_id, record_type, record_id, e164): it covers the
probe, through its first column only, so it scanned the whole organisation
(~12 ms at 100k numbers instead of ~0.03 ms). Covering as well, and using both
equalities, the new index is the plan whatever the statistics say; it also
makes the probe (and call matching's) index-only on PostgreSQL. The old index
is its prefix, so it goes.

Revision ID: b5e8d14c2a67
Revises: a7f3c2e91b04
Create Date: 2026-12-08 10:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b5e8d14c2a67'
down_revision = 'a7f3c2e91b04'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('record_phones', schema=None) as batch_op:
        batch_op.create_index('ix_record_phones_org_e164_record',
                              ['organization_id', 'e164', 'record_type', 'record_id'], unique=False)
        batch_op.drop_index('ix_record_phones_org_e164')


def downgrade():
    with op.batch_alter_table('record_phones', schema=None) as batch_op:
        batch_op.create_index('ix_record_phones_org_e164', ['organization_id', 'e164'], unique=False)
        batch_op.drop_index('ix_record_phones_org_e164_record')
