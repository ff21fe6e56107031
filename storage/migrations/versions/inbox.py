"""inbox: updates fetched from a messenger are stored before they are acknowledged

Revision ID: inbox
Revises: trust_link
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inbox"
down_revision: str | None = "trust_link"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("update_key", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "update_key"),
    )


def downgrade() -> None:
    op.drop_table("inbox")
