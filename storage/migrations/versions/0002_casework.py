"""casework

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 17:47:37.155395
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Long on purpose: a migration is a frozen record of one schema change; splitting rewrites it.
def upgrade() -> None:
    op.create_table(
        "department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_department_code", "department", ["code"], unique=True)
    op.create_table(
        "case_card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_id", "channel", "chat_id"),
    )
    op.create_index("ix_case_card_report_id", "case_card", ["report_id"])
    op.create_table(
        "reveal_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reveal_log_report_id", "reveal_log", ["report_id"])
    # Existing rows need server defaults for the new NOT NULL columns.
    for table in ("invite", "person"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
            batch.add_column(
                sa.Column("can_reveal", sa.Boolean(), nullable=False, server_default=sa.false())
            )
            batch.create_foreign_key(f"fk_{table}_department", "department", ["department_id"], ["id"])
    with op.batch_alter_table("report_event") as batch:
        batch.add_column(
            sa.Column(
                "action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default=""
            )
        )
    with op.batch_alter_table("report") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "delivery_problem",
                sqlmodel.sql.sqltypes.AutoString(length=300),
                nullable=False,
                server_default="",
            )
        )
        batch.create_index("ix_report_department_id", ["department_id"])
        batch.create_index("ix_report_due_at", ["due_at"])
        batch.create_index("ix_report_acknowledged_at", ["acknowledged_at"])
        batch.create_index("ix_report_resolved_at", ["resolved_at"])
        batch.create_foreign_key("fk_report_duplicate_of", "report", ["duplicate_of_id"], ["id"])
        batch.create_foreign_key("fk_report_department", "department", ["department_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("report_event") as batch:
        batch.drop_column("action")
    with op.batch_alter_table("report") as batch:
        batch.drop_constraint("fk_report_department", type_="foreignkey")
        batch.drop_constraint("fk_report_duplicate_of", type_="foreignkey")
        batch.drop_index("ix_report_department_id")
        batch.drop_index("ix_report_due_at")
        batch.drop_index("ix_report_acknowledged_at")
        batch.drop_index("ix_report_resolved_at")
        for column in (
            "delivery_problem", "rating", "duplicate_of_id", "closed_at", "resolved_at",
            "acknowledged_at", "due_at", "department_id", "version",
        ):
            batch.drop_column(column)
    for table in ("person", "invite"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_department", type_="foreignkey")
            batch.drop_column("can_reveal")
            batch.drop_column("department_id")
    op.drop_index("ix_reveal_log_report_id", "reveal_log")
    op.drop_table("reveal_log")
    op.drop_index("ix_case_card_report_id", "case_card")
    op.drop_table("case_card")
    op.drop_index("ix_department_code", "department")
    op.drop_table("department")
