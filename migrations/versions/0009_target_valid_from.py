"""targets have effective dates: each row of target is a version in force from a month

Revision ID: 0009
Revises: 0008_idempotency_keys
Create Date: 2026-12-01 00:00:00

Each target row becomes a version valid from a month (``YYYY-MM``), with who set it and
when. The rows already there get ``0001-01`` (before any month a report can name), so every
past month keeps today's figures. Downgrading keeps one row per (program, indicator,
area): the latest version (greatest ``valid_from``, then the last set); the others are
dropped (their changes stay in the audit trail, events of field ``target``).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008_idempotency_keys'
branch_labels = None
depends_on = None

EARLIEST = '0001-01'  # progress.EARLIEST_MONTH: before any month a report can name


def upgrade():
    with op.batch_alter_table('target', schema=None) as batch_op:
        batch_op.add_column(sa.Column('valid_from', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('set_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('set_at', sa.DateTime(), nullable=True))

    op.execute(sa.text("UPDATE target SET valid_from = :m").bindparams(m=EARLIEST))

    with op.batch_alter_table('target', schema=None) as batch_op:
        batch_op.alter_column('valid_from', existing_type=sa.String(length=7), nullable=False)
        batch_op.drop_constraint('uq_target_program', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_target_program'),
                                          ['program', 'indicator', 'area_id', 'valid_from'])
        batch_op.create_foreign_key(batch_op.f('fk_target_set_by_id_user'), 'user', ['set_by_id'], ['id'])


def downgrade():
    # One row per (program, indicator, area): the latest version.
    op.execute(
        "DELETE FROM target WHERE EXISTS (SELECT 1 FROM target AS later"
        " WHERE later.program = target.program AND later.indicator = target.indicator"
        " AND (later.area_id = target.area_id OR (later.area_id IS NULL AND target.area_id IS NULL))"
        " AND (later.valid_from > target.valid_from"
        " OR (later.valid_from = target.valid_from AND later.id > target.id)))")

    with op.batch_alter_table('target', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_target_set_by_id_user'), type_='foreignkey')
        batch_op.drop_constraint('uq_target_program', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_target_program'), ['program', 'indicator', 'area_id'])
        batch_op.drop_column('set_at')
        batch_op.drop_column('set_by_id')
        batch_op.drop_column('valid_from')
