"""worker roles (active/standby lease) and visitor request claims

Revision ID: d41e7b2a9c60
Revises: 11005f3a3e11
Create Date: 2026-12-02 02:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd41e7b2a9c60'
down_revision = '11005f3a3e11'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('worker_heartbeat', schema=None) as batch_op:
        batch_op.add_column(sa.Column('instance', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('role', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('role_since', sa.DateTime(timezone=True), nullable=True))
    # The single-worker row of older versions (named 'worker'): each worker now has its own.
    op.execute("DELETE FROM worker_heartbeat WHERE name = 'worker'")
    with op.batch_alter_table('visitor_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table('visitor_request', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
    with op.batch_alter_table('worker_heartbeat', schema=None) as batch_op:
        batch_op.drop_column('role_since')
        batch_op.drop_column('role')
        batch_op.drop_column('instance')
