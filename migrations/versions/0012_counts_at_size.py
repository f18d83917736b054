"""Pages at a province's and the country's size: list counts, finding commune, indexes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:00:00

``payment_count``: the figures of a locked list (people and đồng), kept by the writes that
change them (``payments.recount``), with ``payment_period.counted_at``; a list locked before
this migration has none and is counted from its lines until ``flask recount-lists``.
``finding.commune_id``: the record's commune, backfilled here, with an index for the quality
pages. ``ix_beneficiary_progress`` (every column the progress count reads) replaces
``ix_beneficiary_commune_program``; ``ix_payment_line_period_line`` (period, id: a page of a
list's lines in order) replaces ``ix_payment_line_period_id``; ``ix_beneficiary_commune_name`` (commune, name, status, id: the search's first 50 by
name from the index alone); ``beneficiary.transferred_from_id`` is indexed (a review
finds the HTXH records of a BTXH record). On PostgreSQL only: ``pg_trgm`` and a GIN trigram
index on ``beneficiary.name_folded`` for the search's ``LIKE '%…%'``.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payment_count',
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=48), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['period_id'], ['payment_period.id'], name=op.f('fk_payment_count_period_id_payment_period')),
    sa.PrimaryKeyConstraint('period_id', 'key', name=op.f('pk_payment_count'))
    )
    with op.batch_alter_table('payment_period', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counted_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commune_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_finding_commune_id_area'), 'area', ['commune_id'], ['id'])
    op.execute("UPDATE finding SET commune_id = (SELECT b.commune_id FROM beneficiary b"
               " WHERE b.id = finding.beneficiary_id)")
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index('ix_finding_commune_open', ['commune_id', 'resolved_at', 'source', 'severity',
                                                          'code', 'beneficiary_id'], unique=False)

    with op.batch_alter_table('payment_line', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_line_period_id')
        batch_op.create_index('ix_payment_line_period_line', ['period_id', 'id'], unique=False)

    with op.batch_alter_table('beneficiary', schema=None) as batch_op:
        batch_op.drop_index('ix_beneficiary_commune_program')
        batch_op.create_index('ix_beneficiary_progress', ['commune_id', 'program', 'status', 'deceased',
                                                          'account_status', 'payment_method', 'reviewed_at', 'id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_beneficiary_transferred_from_id'), ['transferred_from_id'],
                              unique=False)
        batch_op.create_index('ix_beneficiary_commune_name', ['commune_id', 'name_folded', 'status', 'id'],
                              unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_beneficiary_name_trgm ON beneficiary USING gin (name_folded gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_beneficiary_name_trgm")
    with op.batch_alter_table('beneficiary', schema=None) as batch_op:
        batch_op.drop_index('ix_beneficiary_commune_name')
        batch_op.drop_index(batch_op.f('ix_beneficiary_transferred_from_id'))
        batch_op.drop_index('ix_beneficiary_progress')
        batch_op.create_index('ix_beneficiary_commune_program', ['commune_id', 'program'], unique=False)
    with op.batch_alter_table('payment_line', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_line_period_line')
        batch_op.create_index('ix_payment_line_period_id', ['period_id'], unique=False)
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index('ix_finding_commune_open')
        batch_op.drop_constraint(batch_op.f('fk_finding_commune_id_area'), type_='foreignkey')
        batch_op.drop_column('commune_id')
    with op.batch_alter_table('payment_period', schema=None) as batch_op:
        batch_op.drop_column('counted_at')
    op.drop_table('payment_count')
