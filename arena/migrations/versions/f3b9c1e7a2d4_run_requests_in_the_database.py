"""run requests in the database (seen by the active worker on any machine)

Revision ID: f3b9c1e7a2d4
Revises: e5f2a8c1d7b3
Create Date: 2026-12-02 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3b9c1e7a2d4'
down_revision = 'e5f2a8c1d7b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('run_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('budget', sa.String(length=40), nullable=True),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('taken_by', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_request'))
    )


def downgrade():
    op.drop_table('run_request')
