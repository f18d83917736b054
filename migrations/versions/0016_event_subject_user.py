"""The user an admin's change concerns: ``event.subject_user_id``

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 12:10:00

A user's history (``users.history``, the admin's user page) was found by matching the JSON
text of every admin event; it is now one indexed column, filled here from the ``id`` that
``users.as_dict`` wrote into each event's values. No foreign key: adding one on SQLite
would rebuild the whole ``event`` table.
"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('event', sa.Column('subject_user_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_event_subject_user_id'), 'event', ['subject_user_id'], unique=False)
    conn = op.get_bind()
    event = sa.table('event', sa.column('id', sa.Integer), sa.column('source', sa.String),
                     sa.column('field', sa.String), sa.column('old_value', sa.Text),
                     sa.column('new_value', sa.Text), sa.column('subject_user_id', sa.Integer))
    rows = conn.execute(sa.select(event.c.id, event.c.old_value, event.c.new_value).where(
        event.c.source == 'admin', event.c.field == 'user')).all()
    for eid, old, new in rows:  # admin changes of users: a few per user, never millions
        values = json.loads(new or old or "null") or {}
        if isinstance(values.get("id"), int):
            conn.execute(event.update().where(event.c.id == eid).values(subject_user_id=values["id"]))


def downgrade():
    op.drop_index(op.f('ix_event_subject_user_id'), table_name='event')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('subject_user_id')
