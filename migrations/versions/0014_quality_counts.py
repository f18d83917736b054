"""Data-quality counters kept by the writes: ``finding_count``, ``quality_record``,
``quality_count`` and their triggers

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 10:00:00

The open findings the quality pages count per (commune, code, severity), per record (its
errors and warnings, the worklist's order) and per commune (records, with an error, with
any finding), kept by triggers on ``finding`` and ``beneficiary``
(services/quality_counts.py, the same DDL the models' ``create_all`` runs), backfilled here
with ``INSERT … SELECT … GROUP BY`` (``quality_counts.RECOUNT_SQL``).
"""
from alembic import op
import sqlalchemy as sa

from portal.services import quality_counts


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('finding_count',
    sa.Column('commune_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('n', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('commune_id', 'code', 'severity', name=op.f('pk_finding_count'))
    )
    op.create_table('quality_record',
    sa.Column('beneficiary_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('commune_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name_folded', sa.String(length=120), nullable=True),
    sa.Column('errors', sa.Integer(), server_default='0', nullable=False),
    sa.Column('warnings', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rank', sa.SmallInteger(), server_default='1', nullable=False),
    sa.PrimaryKeyConstraint('beneficiary_id', 'commune_id', name=op.f('pk_quality_record'))
    )
    with op.batch_alter_table('quality_record', schema=None) as batch_op:
        batch_op.create_index('ix_quality_record_worklist', ['commune_id', 'rank', 'name_folded', 'beneficiary_id'],
                              unique=False)
    op.create_table('quality_count',
    sa.Column('commune_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('records', sa.Integer(), server_default='0', nullable=False),
    sa.Column('with_error', sa.Integer(), server_default='0', nullable=False),
    sa.Column('with_finding', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('commune_id', name=op.f('pk_quality_count'))
    )
    bind = op.get_bind()
    for statement in quality_counts.RECOUNT_SQL:  # before the triggers: nothing else writes now
        bind.exec_driver_sql(statement)
    for statement in quality_counts.create_statements(bind.dialect.name):
        bind.exec_driver_sql(statement)


def downgrade():
    for statement in quality_counts.drop_statements(op.get_bind().dialect.name):
        op.get_bind().exec_driver_sql(statement)
    op.drop_table('quality_count')
    with op.batch_alter_table('quality_record', schema=None) as batch_op:
        batch_op.drop_index('ix_quality_record_worklist')
    op.drop_table('quality_record')
    op.drop_table('finding_count')
