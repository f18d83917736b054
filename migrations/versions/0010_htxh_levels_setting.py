"""HTXH and provincial levels: standard_level.area_id, beneficiary pension fields, setting

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:00:00

``standard_level.area_id``: a province's own (higher) level in force from a date; empty for
the national level. ``beneficiary.has_pension`` (null: unknown) and
``beneficiary.poor_household`` (``poor``/``near_poor``/null) for the social pension (HTXH,
Social Insurance Law 2024 Art. 21; Decree 176/2025/NĐ-CP Art. 2), and
``beneficiary.transferred_from_id``: the BTXH record an HTXH record was transferred from.
``setting``: portal-wide settings by key (e.g. ``open_month``). Downgrading drops the provincial levels' rows (their
changes stay in the audit trail) and the new columns.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('setting',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_setting'))
    )
    with op.batch_alter_table('beneficiary', schema=None) as batch_op:
        batch_op.add_column(sa.Column('has_pension', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('poor_household', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('transferred_from_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_beneficiary_transferred_from_id_beneficiary'), 'beneficiary', ['transferred_from_id'], ['id'])

    with op.batch_alter_table('standard_level', schema=None) as batch_op:
        batch_op.add_column(sa.Column('area_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_standard_level_area_id_area'), 'area', ['area_id'], ['id'])


def downgrade():
    op.execute("DELETE FROM standard_level WHERE area_id IS NOT NULL")
    with op.batch_alter_table('standard_level', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_standard_level_area_id_area'), type_='foreignkey')
        batch_op.drop_column('area_id')

    with op.batch_alter_table('beneficiary', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_beneficiary_transferred_from_id_beneficiary'), type_='foreignkey')
        batch_op.drop_column('transferred_from_id')
        batch_op.drop_column('poor_household')
        batch_op.drop_column('has_pension')

    op.drop_table('setting')
