"""Orders and customers: `order_events` (one row per order, merging its payment and refund),
`order_lines`, and `customers` with the day of their first paid order — the sources the daily
sales and customer metrics are computed from — and `item_sales_daily`, what sold per day, channel
and SKU, and `customer_periods`, distinct customers per week and month, derived like them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MONEY = sa.Numeric(14, 2)


def upgrade() -> None:
    op.create_table(
        "order_events",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_date", sa.Date(), nullable=True),
        sa.Column("refund_amount", MONEY, nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund_date", sa.Date(), nullable=True),
        sa.Column("metadata", JSON, server_default=sa.text("'{}'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'refunded', 'cancelled')",
            name=op.f("ck_order_events_status_known"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_order_events_amount_not_negative")),
        sa.CheckConstraint(
            "currency = upper(currency) AND length(currency) = 3", name=op.f("ck_order_events_currency_code")
        ),
        sa.CheckConstraint(
            "(refunded_at IS NULL) = (refund_amount IS NULL) "
            "AND (refunded_at IS NULL) = (refund_date IS NULL)",
            name=op.f("ck_order_events_refund_complete"),
        ),
        sa.CheckConstraint(
            "refund_amount IS NULL OR refund_amount > 0", name=op.f("ck_order_events_refund_positive")
        ),
        sa.CheckConstraint(
            "(status = 'refunded') = (refunded_at IS NOT NULL)",
            name=op.f("ck_order_events_refunded_has_refund"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        sa.UniqueConstraint("order_id", name=op.f("uq_order_events_order_id")),
    )
    op.create_index(
        "ix_order_events_paid_date",
        "order_events",
        ["paid_date"],
        postgresql_include=["customer_id", "channel", "amount"],
    )
    op.create_index("ix_order_events_refund_date", "order_events", ["refund_date"])
    op.create_index("ix_order_events_customer_id_paid_date", "order_events", ["customer_id", "paid_date"])
    op.create_index("ix_order_events_occurred_at_id", "order_events", ["occurred_at", "id"])

    op.create_table(
        "order_lines",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_order_lines_unit_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["order_events.order_id"],
            name=op.f("fk_order_lines_order_id_order_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("order_id", "line_no", name=op.f("uq_order_lines_order_id_line_no")),
    )
    op.create_index("ix_order_lines_sku", "order_lines", ["sku"])

    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("first_paid_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_index("ix_customers_first_paid_date", "customers", ["first_paid_date"])

    op.create_table(
        "item_sales_daily",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("revenue", MONEY, nullable=False),
        sa.CheckConstraint("orders > 0", name=op.f("ck_item_sales_daily_orders_positive")),
        sa.CheckConstraint("units > 0", name=op.f("ck_item_sales_daily_units_positive")),
        sa.PrimaryKeyConstraint("date", "channel", "sku", name=op.f("pk_item_sales_daily")),
    )

    op.create_table(
        "customer_periods",
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("total_customers", sa.Integer(), nullable=False),
        sa.Column("new_customers", sa.Integer(), nullable=False),
        sa.Column("returning_customers", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "granularity IN ('week', 'month')", name=op.f("ck_customer_periods_granularity_known")
        ),
        sa.CheckConstraint(
            "returning_customers = total_customers - new_customers",
            name=op.f("ck_customer_periods_returning_is_rest"),
        ),
        sa.PrimaryKeyConstraint("granularity", "period_start", name=op.f("pk_customer_periods")),
    )


def downgrade() -> None:
    op.drop_table("customer_periods")
    op.drop_table("item_sales_daily")
    op.drop_table("customers")
    op.drop_table("order_lines")
    op.drop_table("order_events")
