"""visitor_request.address, for a quota of waiting prompts per client address

A keyed hash of the address (never the address itself); requests queued before have none and
count for no address.

Revision ID: 5e0a7c2d9b14
Revises: 4cb3cd742105
Create Date: 2026-12-02 10:12:41.503117

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e0a7c2d9b14'
down_revision = '4cb3cd742105'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('visitor_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_visitor_request_address_status', ['address', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('visitor_request', schema=None) as batch_op:
        batch_op.drop_index('ix_visitor_request_address_status')
        batch_op.drop_column('address')
