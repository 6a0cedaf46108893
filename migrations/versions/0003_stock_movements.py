"""Stock movements: every change of an item's stock or reservations, with who, when, why and the
levels it left; the history behind each stock number.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stock_movements",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("item_id", BIGINT, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_id", BIGINT, nullable=True),
        sa.Column("actor_email", sa.String(length=254), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stock_delta", sa.Integer(), nullable=False),
        sa.Column("reserved_delta", sa.Integer(), nullable=False),
        sa.Column("stock_after", sa.Integer(), nullable=False),
        sa.Column("reserved_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.CheckConstraint(
            "kind IN ('opening', 'receive', 'ship', 'correct', 'reserve', 'release', 'import')",
            name=op.f("ck_stock_movements_kind_known"),
        ),
        sa.CheckConstraint(
            "stock_delta <> 0 OR reserved_delta <> 0", name=op.f("ck_stock_movements_changes_something")
        ),
        sa.CheckConstraint(
            "stock_after >= 0 AND reserved_after >= 0 AND reserved_after <= stock_after",
            name=op.f("ck_stock_movements_levels_sane"),
        ),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_stock_movements_reason_given")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["inventory_items.id"],
            name=op.f("fk_stock_movements_item_id_inventory_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_stock_movements_actor_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    op.create_index("ix_stock_movements_actor_id", "stock_movements", ["actor_id"])
    op.create_index("ix_stock_movements_item_id_id", "stock_movements", ["item_id", "id"])
    op.create_index("ix_stock_movements_occurred_at_id", "stock_movements", ["occurred_at", "id"])


def downgrade() -> None:
    op.drop_table("stock_movements")
