"""calls.attempt_id: the outbound attempt a stored call dialled (HOTLINE_ATTEMPT_ID)

Lets the scheduler, after a crash, tell an attempt whose call the bridge saw (it was dialled)
from one that never left, instead of guessing from the PBX's live channels alone.

Revision ID: sched_0003
Revises: web_0002
Create Date: 2026-11-23 01:28:28.273510
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'sched_0003'
down_revision = 'web_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_calls_attempt_id', ['attempt_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_attempt_id')
        batch_op.drop_column('attempt_id')
