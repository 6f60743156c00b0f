"""console_sessions.token_id: the token that asked for the sign-in link, so that revoking it
ends its links and sessions at once. Rows from before have none and no longer sign in (a
console session lasts hours: they sign in again with a new link).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.String(length=40), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_console_sessions_token_id"), ["token_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_console_sessions_token_id_tokens",
            "tokens",
            ["token_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_console_sessions_token_id_tokens", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_console_sessions_token_id"))
        batch_op.drop_column("token_id")
