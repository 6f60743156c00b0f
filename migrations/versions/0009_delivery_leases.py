"""delivery_leases and webhooks.max_in_flight: a cap on one webhook's deliveries in flight,
held across every process (store/admission.py).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_leases",
        sa.Column("delivery_id", sa.String(length=40), primary_key=True),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_delivery_leases_webhook", "delivery_leases", ["webhook_id", "expires_at"])
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_in_flight", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("max_in_flight")
    op.drop_index("ix_delivery_leases_webhook", table_name="delivery_leases")
    op.drop_table("delivery_leases")
