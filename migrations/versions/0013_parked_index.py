"""A partial index of the parked deliveries by webhook in publish order: every delivery that
gives back its webhook's slot looks for the oldest parked one, however many of the webhook's
deliveries are pending (store/ordering.py).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_parked_by_webhook",
        "deliveries",
        ["webhook_id", "created_at", "id"],
        sqlite_where=sa.text("status = 'pending' AND parked IS 1"),
        postgresql_where=sa.text("status = 'pending' AND parked IS true"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_parked_by_webhook", table_name="deliveries")
