"""deliveries.next_attempt_at: when a delivery's next attempt is due (nullable)

Revision ID: 0006
Revises: 0005

A placeholder of the revision written on another branch, identical in effect, so the two
branches merge trivially.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
