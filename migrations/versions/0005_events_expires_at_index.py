"""events.expires_at index: the expiry sweep deletes events by `expires_at`

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_expires_at", "events", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_expires_at", table_name="events")
