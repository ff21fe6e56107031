"""sealed reporter links: hidden reports keep their reporter only as ciphertext

Revision ID: sealed_reporters
Revises: inbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sealed_reporters"
down_revision: str | None = "inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report") as batch:
        batch.add_column(sa.Column("sealed_reporter", sa.Text(), nullable=True))
    op.create_table(
        "reporter_box",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tag", sa.String(length=64), nullable=False, unique=True),
        sa.Column("token", sa.Text(), nullable=False),
    )
    # Hidden reports written before sealing existed are sealed by `grassroots keys seal-existing`
    # (it needs the key, which a migration does not have); `grassroots run` does it at start-up.


def downgrade() -> None:
    op.drop_table("reporter_box")
    with op.batch_alter_table("report") as batch:
        batch.drop_column("sealed_reporter")
