"""form_receipt: what a web form submission filed, for a few hours, shared by every instance

Revision ID: form_receipt
Revises: rate_window
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "form_receipt"
down_revision: str | None = "rate_window"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "form_receipt",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_digest"),
    )
    op.create_index("ix_form_receipt_filed_at", "form_receipt", ["filed_at"])


def downgrade() -> None:
    op.drop_index("ix_form_receipt_filed_at", table_name="form_receipt")
    op.drop_table("form_receipt")
