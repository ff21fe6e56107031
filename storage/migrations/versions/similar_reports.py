"""similar reports: each report's normalised text and its MinHash LSH band keys

Revision ID: similar_reports
Revises: sealed_reporters

Reports written before this migration are indexed when the application starts
(storage/similar.py index_missing), in batches, so the migration itself stays pure SQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "similar_reports"
down_revision: str | None = "sealed_reporters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "similar_text",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("normalised", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("report_id"),
    )
    op.create_table(
        "similar_band",
        sa.Column("band_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("band_key", "report_id"),
    )


def downgrade() -> None:
    op.drop_table("similar_band")
    op.drop_table("similar_text")
