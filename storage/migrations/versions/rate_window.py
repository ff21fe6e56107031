"""rate_window: flood and upload budgets counted in the database, shared by every instance

Revision ID: rate_window
Revises: report_search
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rate_window"
down_revision: str | None = "report_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_window",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_rate_window_expires_ms", "rate_window", ["expires_ms"])


def downgrade() -> None:
    op.drop_index("ix_rate_window_expires_ms", table_name="rate_window")
    op.drop_table("rate_window")
