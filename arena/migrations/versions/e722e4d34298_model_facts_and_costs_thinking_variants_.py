"""model facts and costs, thinking, variants, targeted votes, showcase prompts

Revision ID: e722e4d34298
Revises: f3b9c1e7a2d4
Create Date: 2026-12-02 05:49:45.317290

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e722e4d34298'
down_revision = 'f3b9c1e7a2d4'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ... ADD COLUMN, never a copy of the table: copying the model table
    # would drop it, which SQLite's foreign keys refuse once votes point at it.
    with op.batch_alter_table('battle', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('targeted', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('model', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('param_count', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('context_length', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('capabilities', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('disk_bytes', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('memory_bytes', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('memory_source', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('think', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('think_refused', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('backend_tag', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('variant_options', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('system_prompt', sa.Text(), nullable=True))

    with op.batch_alter_table('prompt', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('showcase', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('response', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('prompt_eval_duration', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('first_token_ns', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('thinking', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('thinking_tokens', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('thinking_ns', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('vote', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('targeted', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): recreating the referenced model
    # table would trip the foreign keys of the rows pointing at it.
    with op.batch_alter_table('vote', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('targeted')

    with op.batch_alter_table('response', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('thinking_ns')
        batch_op.drop_column('thinking_tokens')
        batch_op.drop_column('thinking')
        batch_op.drop_column('first_token_ns')
        batch_op.drop_column('prompt_eval_duration')

    with op.batch_alter_table('prompt', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('showcase')

    with op.batch_alter_table('model', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('system_prompt')
        batch_op.drop_column('variant_options')
        batch_op.drop_column('backend_tag')
        batch_op.drop_column('think_refused')
        batch_op.drop_column('think')
        batch_op.drop_column('memory_source')
        batch_op.drop_column('memory_bytes')
        batch_op.drop_column('disk_bytes')
        batch_op.drop_column('capabilities')
        batch_op.drop_column('context_length')
        batch_op.drop_column('param_count')

    with op.batch_alter_table('battle', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('targeted')

