"""covering indexes for a webhook's last 24 hours (stats, console sparklines and rates)

attempts (webhook_id, started_at, status_code, duration_ms) replaces attempts (webhook_id);
deliveries (webhook_id, created_at, status) replaces deliveries (webhook_id, created_at).
Each new index starts with the columns of the one it replaces, so every query the old one
served, it serves.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_attempts_webhook_started",
        "attempts",
        ["webhook_id", "started_at", "status_code", "duration_ms"],
        unique=False,
    )
    op.drop_index("ix_attempts_webhook_id", table_name="attempts")
    op.create_index(
        "ix_deliveries_webhook_created_status",
        "deliveries",
        ["webhook_id", "created_at", "status"],
        unique=False,
    )
    op.drop_index("ix_deliveries_webhook_created", table_name="deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_deliveries_webhook_created", "deliveries", ["webhook_id", "created_at"], unique=False
    )
    op.drop_index("ix_deliveries_webhook_created_status", table_name="deliveries")
    op.create_index("ix_attempts_webhook_id", "attempts", ["webhook_id"], unique=False)
    op.drop_index("ix_attempts_webhook_started", table_name="attempts")
