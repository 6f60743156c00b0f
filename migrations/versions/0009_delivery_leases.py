"""delivery_leases and webhooks' admission columns (store/admission.py): a cap on one
webhook's deliveries in flight, a rate limit and a circuit breaker, held across processes.

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
        batch_op.add_column(sa.Column("rate_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rate_tat", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "breaker_state", sa.String(length=16), nullable=False, server_default="closed"
            )
        )
        batch_op.add_column(sa.Column("breaker_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("breaker_opened", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("window_start", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("window_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("window_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("breaker_history", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        for column in (
            "breaker_history",
            "window_failures",
            "window_attempts",
            "window_start",
            "breaker_opened",
            "breaker_until",
            "breaker_state",
            "rate_tat",
            "rate_limit",
            "max_in_flight",
        ):
            batch_op.drop_column(column)
    op.drop_index("ix_delivery_leases_webhook", table_name="delivery_leases")
    op.drop_table("delivery_leases")
