"""webhooks.ordering: "fifo" delivers a webhook's events one at a time in publish order
(store/ordering.py); "none", the default, as before. deliveries.parked: a delivery waiting
for a slot or its turn, woken by the delivery that frees it. A partial index of the pending
deliveries by webhook in publish order serves their lookups.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ordering", sa.String(length=8), nullable=False, server_default="none")
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_deliveries_pending_by_webhook",
        "deliveries",
        ["webhook_id", "created_at", "id"],
        sqlite_where=pending,
        postgresql_where=pending,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_pending_by_webhook", table_name="deliveries")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("parked")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("ordering")
