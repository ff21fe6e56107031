"""inbox_owner: which instance received each inbox row, so only a dead instance's are adopted

Revision ID: inbox_owner
Revises: form_receipt
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inbox_owner"
down_revision: str | None = "form_receipt"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows kept before this have no known owner and stay adoptable, as before.
    op.add_column("inbox", sa.Column("owner", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("owner")
