"""Progress counters kept by the writes: ``progress_count`` and its triggers

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 09:30:00

``progress_count``: changes to the campaign's indicators per (commune, village, program),
added by triggers on ``beneficiary`` and ``account`` (services/tallies.py, the same DDL the models'
``create_all`` runs), backfilled here with one ``INSERT … SELECT … GROUP BY`` counting
reviews from the default campaign start (``flask recount`` counts from another).
"""
from alembic import op
import sqlalchemy as sa

from portal.services import tallies


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

FIELDS = ("total", "reviewed", "with_account", "own", "guardian", "authorised", "cashless",
          "opening", "no_account", "refuses")


def upgrade():
    op.create_table('progress_count',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commune_id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('program', sa.String(length=4), nullable=False),
    *[sa.Column(f, sa.Integer(), server_default='0', nullable=False) for f in FIELDS],
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_count'))
    )
    with op.batch_alter_table('progress_count', schema=None) as batch_op:
        batch_op.create_index('ix_progress_count_key', ['commune_id', 'village_id', 'program'], unique=False)
        batch_op.create_index('ix_progress_count_village', ['village_id'], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in tallies.create_statements(dialect):
        op.get_bind().exec_driver_sql(statement)
    op.get_bind().exec_driver_sql(tallies.backfill_sql(dialect))


def downgrade():
    for statement in tallies.drop_statements(op.get_bind().dialect.name):
        op.get_bind().exec_driver_sql(statement)
    with op.batch_alter_table('progress_count', schema=None) as batch_op:
        batch_op.drop_index('ix_progress_count_village')
        batch_op.drop_index('ix_progress_count_key')
    op.drop_table('progress_count')
