"""Business metrics: free-form analytics events and the seed's daily sales and customer figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ecomdesk.db.base import Base, BigIntPK, Money, created_at_column


class AnalyticsData(Base):
    __tablename__ = "analytics_data"
    __table_args__ = (Index("ix_analytics_data_metric_type_recorded_at", "metric_type", "recorded_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    metric_type: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[Decimal] = mapped_column(Numeric(18, 4), nullable=False)
    #: `metadata` is reserved by SQLAlchemy's declarative classes, so the attribute is `meta`.
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", nullable=False, default=dict, server_default=text("'{}'")
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(nullable=False, server_default=func.now())


class SalesMetric(Base):
    """Revenue, orders and customers of one channel on one shop day."""

    __tablename__ = "sales_metrics"
    __table_args__ = (
        UniqueConstraint("date", "channel"),
        CheckConstraint("orders >= 0", name="orders_not_negative"),
        CheckConstraint("customers >= 0", name="customers_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(50), nullable=False)
    #: May go below zero on a day whose refunds outweigh its sales.
    revenue: Mapped[Decimal] = mapped_column(Money, nullable=False)
    orders: Mapped[int] = mapped_column(Integer, nullable=False)
    customers: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = created_at_column()


class CustomerMetric(Base):
    """All channels together, one row per shop day."""

    __tablename__ = "customer_metrics"
    __table_args__ = (
        CheckConstraint("new_customers >= 0", name="new_customers_not_negative"),
        CheckConstraint("returning_customers >= 0", name="returning_customers_not_negative"),
        CheckConstraint(
            "total_customers = new_customers + returning_customers", name="total_is_new_plus_returning"
        ),
        CheckConstraint("average_order_value >= 0", name="aov_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, nullable=False, unique=True)
    total_customers: Mapped[int] = mapped_column(Integer, nullable=False)
    new_customers: Mapped[int] = mapped_column(Integer, nullable=False)
    returning_customers: Mapped[int] = mapped_column(Integer, nullable=False)
    average_order_value: Mapped[Decimal] = mapped_column(Money, nullable=False)
    created_at: Mapped[dt.datetime] = created_at_column()
