"""outbox: a priority per row (urgent before bulk), and partial indexes for the worker's queue

Revision ID: outbox_priority
Revises: inbox_owner

Rows already queued become "normal" (1). The indexes cover only unsettled rows, so they stay
small however many sent rows the table keeps.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "outbox_priority"
down_revision: str | None = "inbox_owner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")
UNSETTLED = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1")
        )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["priority", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_outbox_unsettled",
        "outbox",
        ["chat_id", "channel"],
        sqlite_where=UNSETTLED,
        postgresql_where=UNSETTLED,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unsettled", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("priority")
