"""events.status index: the open-events gauge counts events by status at each scrape

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_status", "events", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_status", table_name="events")
