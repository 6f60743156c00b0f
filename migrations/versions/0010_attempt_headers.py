"""attempts.request_headers and attempts.response_headers: what the attempt inspector shows
(the request as sent, the response's headers), nullable (attempts from before have none);
events (tenant_id, idempotency_key): searching a tenant's events by idempotency key.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_headers", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("response_headers", sa.JSON(), nullable=True))
    op.create_index(
        "ix_events_tenant_idempotency_key",
        "events",
        ["tenant_id", "idempotency_key"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_events_tenant_idempotency_key", table_name="events")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("response_headers")
        batch_op.drop_column("request_headers")
