"""Orders as the shop's other systems report them, and the customers seen in them.

One row per order (`order_id` unique) merges every event about it: it is paid, and may later be
refunded. Importing events in any order, any number of times, leaves the same row. The daily
figures (`sales_metrics`, `customer_metrics`) are derived from these rows by
`db.metrics`, never typed in.

Shop days: `paid_date` and `refund_date` are the calendar days, in the shop's time zone (a system
setting), on which the payment and the refund count. They are stored, not computed in queries, so
every analytics query is plain date arithmetic that runs unchanged on the offline snapshot (SQLite).
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, BigIntPK, Money, created_at_column, updated_at_column


class OrderStatus(enum.StrEnum):
    """Where an order stands; an order only moves forward: pending → paid → refunded, or
    pending → cancelled."""

    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class OrderEvent(Base):
    """One order with everything its events told: the payment and, perhaps, the refund."""

    __tablename__ = "order_events"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'paid', 'refunded', 'cancelled')", name="status_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("currency = upper(currency) AND length(currency) = 3", name="currency_code"),
        CheckConstraint(
            "(refunded_at IS NULL) = (refund_amount IS NULL) "
            "AND (refunded_at IS NULL) = (refund_date IS NULL)",
            name="refund_complete",
        ),
        CheckConstraint("refund_amount IS NULL OR refund_amount > 0", name="refund_positive"),
        CheckConstraint("(status = 'refunded') = (refunded_at IS NOT NULL)", name="refunded_has_refund"),
        # Covering: the dashboard's customer passes read the range's paid orders by day and then only
        # these columns, so PostgreSQL answers them from the index alone (index-only scans).
        Index(
            "ix_order_events_paid_date",
            "paid_date",
            postgresql_include=["customer_id", "channel", "amount"],
        ),
        Index("ix_order_events_refund_date", "refund_date"),
        Index("ix_order_events_customer_id_paid_date", "customer_id", "paid_date"),
        Index("ix_order_events_occurred_at_id", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    customer_id: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(50), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    #: The order's total as paid (for an order known so far only by its refund: the refund).
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    #: When the order was placed and paid (pending: placed), as the source system said, with its zone.
    occurred_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    #: The shop day the payment counts on; NULL until a payment is known.
    paid_date: Mapped[dt.date | None] = mapped_column(Date)
    refund_amount: Mapped[Decimal | None] = mapped_column(Money)
    refunded_at: Mapped[dt.datetime | None] = mapped_column()
    #: The shop day the refund counts on: refunds reduce revenue when they happen.
    refund_date: Mapped[dt.date | None] = mapped_column(Date)
    #: `metadata` is reserved by SQLAlchemy's declarative classes, so the attribute is `meta`.
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", nullable=False, default=dict, server_default=text("'{}'")
    )
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class OrderLine(Base):
    """What an order contained; gives per-item sales rates and top sellers. The SKU is kept as the
    order said it, not as a foreign key: an order may name an item since archived or never stocked."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        Index("ix_order_lines_sku", "sku"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[str] = mapped_column(
        ForeignKey("order_events.order_id", ondelete="CASCADE"), nullable=False
    )
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    sku: Mapped[str] = mapped_column(String(64), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Money, nullable=False)


class Customer(Base):
    """Every customer reference seen in orders, with the shop day of their first paid order: the
    anchor of new-versus-returning and of the cohorts. Kept by order ingestion."""

    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_first_paid_date", "first_paid_date"),)

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: NULL while the customer has no paid order (only pending or cancelled ones).
    first_paid_date: Mapped[dt.date | None] = mapped_column(Date)


class ItemSalesDaily(Base):
    """What sold per shop day, channel and SKU: the order lines of the orders paid that day, summed
    (before refunds: what left the shelf). Derived by `db.metrics` for exactly the days it recomputes,
    like `sales_metrics`; the dashboard's top sellers, days of cover and sell-through read it
    instead of joining a year of order lines to their orders."""

    __tablename__ = "item_sales_daily"
    __table_args__ = (
        PrimaryKeyConstraint("date", "channel", "sku"),
        CheckConstraint("orders > 0", name="orders_positive"),
        CheckConstraint("units > 0", name="units_positive"),
    )

    #: The shop day the orders were paid on.
    date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    channel: Mapped[str] = mapped_column(String(50), nullable=False)
    sku: Mapped[str] = mapped_column(String(64), nullable=False)
    #: Paid orders with a line of this SKU.
    orders: Mapped[int] = mapped_column(Integer, nullable=False)
    units: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Σ quantity × unit price of those lines.
    revenue: Mapped[Decimal] = mapped_column(Money, nullable=False)


class CustomerPeriod(Base):
    """Distinct paying customers per ISO week and per calendar month, all channels, with the new
    ones (first paid order ever in the period) — what `customer_metrics` is for a day. Distinct
    customers do not add up from days, so the dashboard's weeks and months would otherwise regroup a
    year of orders by customer. Derived by `db.metrics` for every period holding a recomputed day."""

    __tablename__ = "customer_periods"
    __table_args__ = (
        PrimaryKeyConstraint("granularity", "period_start"),
        CheckConstraint("granularity IN ('week', 'month')", name="granularity_known"),
        CheckConstraint("returning_customers = total_customers - new_customers", name="returning_is_rest"),
    )

    #: 'week' (ISO, from Monday) or 'month'.
    granularity: Mapped[str] = mapped_column(String(8), nullable=False)
    #: The period's first day (a Monday, or the 1st).
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    total_customers: Mapped[int] = mapped_column(Integer, nullable=False)
    new_customers: Mapped[int] = mapped_column(Integer, nullable=False)
    returning_customers: Mapped[int] = mapped_column(Integer, nullable=False)
