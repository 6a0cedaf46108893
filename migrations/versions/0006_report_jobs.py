"""Reports generated in the background: the `jobs` queue every app and worker claims work from,
`report_chunks` holding each completed report's file, and the report's progress columns.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("queue", sa.String(length=50), nullable=False),
        sa.Column("payload", JSON, server_default=sa.text("'{}'"), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running')", name=op.f("ck_jobs_status_known")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_jobs_attempts_not_negative")),
        sa.CheckConstraint(
            "(status = 'running') = (lease_until IS NOT NULL AND claim_token IS NOT NULL)",
            name=op.f("ck_jobs_lease_when_running"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "ix_jobs_due",
        "jobs",
        ["queue", "run_after", "id"],
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "ix_jobs_lease",
        "jobs",
        ["queue", "lease_until"],
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "report_chunks",
        sa.Column("report_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", "seq", name=op.f("pk_report_chunks")),
    )
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("row_count", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint("row_count_not_negative", "row_count IS NULL OR row_count >= 0")


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint("row_count_not_negative", type_="check")
        batch.drop_column("finished_at")
        batch.drop_column("started_at")
        batch.drop_column("row_count")
    op.drop_table("report_chunks")
    op.drop_index("ix_jobs_lease", table_name="jobs", postgresql_where=sa.text("status = 'running'"))
    op.drop_index("ix_jobs_due", table_name="jobs", postgresql_where=sa.text("status = 'queued'"))
    op.drop_table("jobs")
