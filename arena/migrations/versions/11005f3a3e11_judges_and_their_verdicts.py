"""judges and their verdicts

Revision ID: 11005f3a3e11
Revises: c7e41a9d05b2
Create Date: 2026-12-02 02:27:37.643060

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '11005f3a3e11'
down_revision = 'c7e41a9d05b2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('judge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['model.id'], name=op.f('fk_judge_model_id_model'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_judge')),
    sa.UniqueConstraint('model_id', name=op.f('uq_judge_model_id'))
    )
    op.create_table('judgement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('judge_id', sa.Integer(), nullable=False),
    sa.Column('prompt_id', sa.Integer(), nullable=False),
    sa.Column('model_a_id', sa.Integer(), nullable=False),
    sa.Column('model_b_id', sa.Integer(), nullable=False),
    sa.Column('response_a_id', sa.Integer(), nullable=False),
    sa.Column('response_b_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=True),
    sa.Column('verdict_ab', sa.String(length=10), nullable=False),
    sa.Column('verdict_ba', sa.String(length=10), nullable=False),
    sa.Column('output_ab', sa.Text(), nullable=False),
    sa.Column('output_ba', sa.Text(), nullable=False),
    sa.Column('duration_ab_ms', sa.Integer(), nullable=True),
    sa.Column('duration_ba_ms', sa.Integer(), nullable=True),
    sa.Column('truncated', sa.Boolean(), nullable=False),
    sa.Column('self_judged', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('a', 'b', 'tie')", name=op.f('ck_judgement_outcome')),
    sa.CheckConstraint("status IN ('counted', 'inconsistent', 'unparsed')", name=op.f('ck_judgement_status')),
    sa.CheckConstraint("verdict_ab IN ('A', 'B', 'C', 'unparsed', 'failed')", name=op.f('ck_judgement_verdict_ab')),
    sa.CheckConstraint("verdict_ba IN ('A', 'B', 'C', 'unparsed', 'failed')", name=op.f('ck_judgement_verdict_ba')),
    sa.CheckConstraint('model_a_id <> model_b_id', name=op.f('ck_judgement_distinct_models')),
    sa.ForeignKeyConstraint(['judge_id'], ['judge.id'], name=op.f('fk_judgement_judge_id_judge'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['model_a_id'], ['model.id'], name=op.f('fk_judgement_model_a_id_model'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['model_b_id'], ['model.id'], name=op.f('fk_judgement_model_b_id_model'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompt.id'], name=op.f('fk_judgement_prompt_id_prompt'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['response_a_id'], ['response.id'], name=op.f('fk_judgement_response_a_id_response'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['response_b_id'], ['response.id'], name=op.f('fk_judgement_response_b_id_response'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_judgement')),
    sa.UniqueConstraint('judge_id', 'response_a_id', 'response_b_id', name='judged_pair')
    )
    with op.batch_alter_table('judgement', schema=None) as batch_op:
        batch_op.create_index('ix_judgement_pair', ['model_a_id', 'model_b_id'], unique=False)
        batch_op.create_index('ix_judgement_responses', ['response_a_id', 'response_b_id'], unique=False)



def downgrade():
    with op.batch_alter_table('judgement', schema=None) as batch_op:
        batch_op.drop_index('ix_judgement_responses')
        batch_op.drop_index('ix_judgement_pair')

    op.drop_table('judgement')
    op.drop_table('judge')
