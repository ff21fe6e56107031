"""trust: /link failure counts and confirmations, and rate limits in the database

Revision ID: trust_link
Revises: outbox_in_doubt
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "trust_link"
down_revision: str | None = "outbox_in_doubt"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = {
    "pending_channel": 16,
    "pending_external_id": 64,
    "pending_chat_id": 64,
    "pending_username": 64,
}


def upgrade() -> None:
    with op.batch_alter_table("link_code") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        for name, length in PENDING.items():
            batch.add_column(
                sa.Column(
                    name,
                    sqlmodel.sql.sqltypes.AutoString(length=length),
                    nullable=False,
                    server_default="",
                )
            )
    op.create_table(
        "rate_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rate_hit") as batch:
        batch.create_index("ix_rate_hit_key", ["key"], unique=False)
        batch.create_index("ix_rate_hit_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_hit") as batch:
        batch.drop_index("ix_rate_hit_expires_at")
        batch.drop_index("ix_rate_hit_key")
    op.drop_table("rate_hit")
    with op.batch_alter_table("link_code") as batch:
        for name in reversed(PENDING):
            batch.drop_column(name)
        batch.drop_column("failures")
