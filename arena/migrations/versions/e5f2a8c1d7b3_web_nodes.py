"""web nodes: each node serving the database, with where its rate-limit counters live

Revision ID: e5f2a8c1d7b3
Revises: d41e7b2a9c60
Create Date: 2026-12-02 02:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5f2a8c1d7b3'
down_revision = 'd41e7b2a9c60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('web_node',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('instance', sa.Text(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('limits', sa.String(length=200), nullable=False),
    sa.Column('shared_limits', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_node'))
    )
    with op.batch_alter_table('web_node', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_node_seen_at'), ['seen_at'], unique=False)


def downgrade():
    with op.batch_alter_table('web_node', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_node_seen_at'))

    op.drop_table('web_node')
