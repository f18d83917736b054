"""Outreach (truyền thông, vận động): ``outreach_session``; a refusal's coded reason and
the planned revisit on ``beneficiary``

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:00:00

The two columns are added with ``ALTER TABLE … ADD COLUMN`` (``op.add_column``, no batch):
a rebuild of ``beneficiary`` on SQLite would drop the counters' triggers
(services/tallies.py, services/quality_counts.py). Dropping them on SQLite needs 3.35
(``ALTER TABLE … DROP COLUMN``), which the triggers do not read.

The setting ``outreach_since`` records the moment of the upgrade: a monthly report made
before it has no outreach counted, and its page shows no outreach section
(services/outreach.counted_since).
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outreach_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commune_id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=True),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('attendees', sa.Integer(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['commune_id'], ['area.id'], name=op.f('fk_outreach_session_commune_id_area')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_outreach_session_user_id_user')),
    sa.ForeignKeyConstraint(['village_id'], ['area.id'], name=op.f('fk_outreach_session_village_id_area')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_session'))
    )
    op.create_index('ix_outreach_session_commune_held', 'outreach_session', ['commune_id', 'held_on'], unique=False)
    op.add_column('beneficiary', sa.Column('refusal_reason', sa.String(length=12), nullable=True))
    op.add_column('beneficiary', sa.Column('revisit_on', sa.Date(), nullable=True))
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    op.get_bind().execute(sa.text("INSERT INTO setting (key, value) VALUES ('outreach_since', :v)"),
                          {"v": now.isoformat()})


def downgrade():
    op.get_bind().execute(sa.text("DELETE FROM setting WHERE key = 'outreach_since'"))
    op.drop_column('beneficiary', 'revisit_on')
    op.drop_column('beneficiary', 'refusal_reason')
    op.drop_index('ix_outreach_session_commune_held', table_name='outreach_session')
    op.drop_table('outreach_session')
