"""admin sessions: operator sign-ins kept by the server

Revision ID: c7e41a9d05b2
Revises: 5e0a7c2d9b14
Create Date: 2026-12-02 10:12:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7e41a9d05b2'
down_revision = '5e0a7c2d9b14'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('admin_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('token_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_session')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_admin_session_key_hash'))
    )
    with op.batch_alter_table('admin_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_session_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('admin_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_session_expires_at'))

    op.drop_table('admin_session')
