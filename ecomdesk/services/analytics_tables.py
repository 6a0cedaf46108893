"""The rows behind the dashboard: daily metrics, orders, order lines and analytics events as
tables, so every card's figure opens as a grid (its `Trace`) and every list exports with
`ecomdesk export <name>`.

Filters beyond the filter bar's, as a trace sets them (`ListQuery.filters`):

- day ranges, both ends included, on the table's shop-day column: `from`/`to` (`sales_metrics`,
  `customer_metrics`), `paid_from`/`paid_to` and `refund_from`/`refund_to` (`orders`),
  `paid_from`/`paid_to` (`order_lines`, the day its order was paid). A `datetime.date` or its ISO
  text (the command line passes text).
- `recorded_from` (included) / `recorded_before` (excluded) on `analytics_events`: moments with
  their offset — the dashboard turns shop days into moments with the shop's time zone, which keeps
  the query plain comparisons that any database runs.
- `channel`: one channel, or a tuple of them (the dashboard's multi-channel filter). On events,
  the `channel` of their metadata.
- `status` (`orders`), `metric_type` (one or a tuple), `customer_id`, `order_id`, `sku`: equality.
- `paid` (`orders`): true keeps orders with a payment (a paid day), false the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, String, Table, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from ecomdesk.db.models import (
    AnalyticsData,
    Customer,
    CustomerMetric,
    OrderEvent,
    OrderLine,
    OrderStatus,
    SalesMetric,
)
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.listing import SortKey, like_pattern
from ecomdesk.services.tables import (
    Choice,
    Column,
    FilterKind,
    FilterSpec,
    Kind,
    Row,
    Source,
    SqlTable,
    TableSpec,
)

PERMISSION: Final = "analytics.read"

SALES: Final = cast(Table, SalesMetric.__table__)
DAILY_CUSTOMERS: Final = cast(Table, CustomerMetric.__table__)
ORDERS: Final = cast(Table, OrderEvent.__table__)
LINES: Final = cast(Table, OrderLine.__table__)
CUSTOMERS: Final = cast(Table, Customer.__table__)
EVENTS: Final = cast(Table, AnalyticsData.__table__)


# -- filter values --------------------------------------------------------------------------------


def filter_date(key: str, value: Any) -> dt.date:
    """A shop day as a filter value: a date or its ISO text (not a datetime: a moment has no
    shop day without the shop's time zone)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError({key: "Expected a day, e.g. 2026-11-27."})


def filter_moment(key: str, value: Any) -> dt.datetime:
    """A moment as a filter value: an aware datetime or ISO text with its offset, in UTC."""
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise ValidationError({key: "Expected a moment with its offset, e.g. 2026-11-27T00:00:00+01:00."})
    return moment.astimezone(dt.UTC)


def filter_texts(key: str, value: Any) -> tuple[str, ...]:
    """One text, or a tuple/list of them (a multi-choice filter)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple | list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValidationError({key: "Expected a name or a list of names."})


def one_of(column: ColumnElement[Any], key: str, value: Any) -> ColumnElement[bool]:
    values = filter_texts(key, value)
    return column == values[0] if len(values) == 1 else column.in_(values)


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError({key: "Expected true or false."})
    return value


def _distinct_choices(session: Session, column: ColumnElement[Any]) -> list[Choice]:
    values = session.scalars(select(column).where(column.is_not(None)).distinct().order_by(column))
    return [Choice(value, value) for value in values]


def _sales_channels(session: Session) -> list[Choice]:
    """Every channel with a payment or refund: read from the small daily table, not from a
    million orders (a channel with only pending or cancelled orders is left out)."""
    return _distinct_choices(session, SALES.c.channel)


class _FiguresTable(SqlTable[Row]):
    """What every analytics list shares: its permission, records built field by field from the
    columns of the same name, and the channels a `channel` filter offers."""

    permission = PERMISSION
    row_type: type[Row]

    def record(self, row: RowMapping) -> Row:
        return self.row_type(**{f.name: row[f.name] for f in fields(cast(Any, self.row_type))})

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key == "channel":
            return _sales_channels(session)
        return super().choices_query(session, key)


# -- sales_metrics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesMetricRow:
    id: int
    date: dt.date
    channel: str
    revenue: Decimal
    orders: int
    customers: int


SALES_METRICS_SPEC: Final = TableSpec(
    name="sales_metrics",
    title="Daily sales",
    singular="day and channel",
    plural="days and channels",
    columns=(
        Column("date", "Day", Kind.DATE),
        Column("channel", "Channel"),
        Column("revenue", "Revenue", Kind.MONEY),
        Column("orders", "Orders", Kind.INTEGER),
        Column("customers", "Customers", Kind.INTEGER),
    ),
    default_sort=(SortKey("date", descending=True), SortKey("channel")),
    filters=(FilterSpec("channel", "Channel", FilterKind.CHOICE),),
    search_hint="Search channel",
)


class SalesMetricsTable(_FiguresTable[SalesMetricRow]):
    """Revenue (payments less refunds), orders and customers per shop day and channel."""

    spec = SALES_METRICS_SPEC
    row_type = SalesMetricRow

    def source(self) -> Source:
        s = SALES.c
        return Source(
            from_=SALES,
            columns={
                "date": s.date,
                "channel": s.channel,
                "revenue": s.revenue,
                "orders": s.orders,
                "customers": s.customers,
            },
            primary_key=s.id,
            extra={"id": s.id},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        return SALES.c.channel.ilike(like_pattern(text), escape="\\")

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        s = SALES.c
        match key:
            case "from":
                return s.date >= filter_date(key, value)
            case "to":
                return s.date <= filter_date(key, value)
            case "channel":
                return one_of(s.channel, key, value)
        return super().filter(key, value)


# -- customer_metrics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerMetricRow:
    id: int
    date: dt.date
    total_customers: int
    new_customers: int
    returning_customers: int
    average_order_value: Decimal


CUSTOMER_METRICS_SPEC: Final = TableSpec(
    name="customer_metrics",
    title="Daily customers",
    singular="day",
    plural="days",
    columns=(
        Column("date", "Day", Kind.DATE),
        Column("total_customers", "Customers", Kind.INTEGER),
        Column("new_customers", "New", Kind.INTEGER),
        Column("returning_customers", "Returning", Kind.INTEGER),
        Column("average_order_value", "Average order value", Kind.MONEY),
    ),
    default_sort=(SortKey("date", descending=True),),
)


class CustomerMetricsTable(_FiguresTable[CustomerMetricRow]):
    """Customers per shop day, all channels together: new on their first paid day, else returning."""

    spec = CUSTOMER_METRICS_SPEC
    row_type = CustomerMetricRow

    def source(self) -> Source:
        c = DAILY_CUSTOMERS.c
        return Source(
            from_=DAILY_CUSTOMERS,
            columns={
                "date": c.date,
                "total_customers": c.total_customers,
                "new_customers": c.new_customers,
                "returning_customers": c.returning_customers,
                "average_order_value": c.average_order_value,
            },
            primary_key=c.id,
            extra={"id": c.id},
        )

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        c = DAILY_CUSTOMERS.c
        match key:
            case "from":
                return c.date >= filter_date(key, value)
            case "to":
                return c.date <= filter_date(key, value)
        return super().filter(key, value)


# -- orders ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    id: int
    order_id: str
    customer_id: str
    #: The shop day of the customer's first paid order ever: new on it, returning after it.
    customer_since: dt.date | None
    channel: str
    status: str
    currency: str
    amount: Decimal
    refund_amount: Decimal | None
    occurred_at: dt.datetime
    paid_date: dt.date | None
    refunded_at: dt.datetime | None
    refund_date: dt.date | None


ORDERS_SPEC: Final = TableSpec(
    name="orders",
    title="Orders",
    singular="order",
    plural="orders",
    columns=(
        Column("order_id", "Order"),
        Column("customer_id", "Customer"),
        Column("customer_since", "Customer since", Kind.DATE, shown=False),
        Column("channel", "Channel"),
        Column("status", "Status"),
        Column("amount", "Amount", Kind.MONEY),
        Column("refund_amount", "Refund", Kind.MONEY),
        Column("currency", "Currency", shown=False),
        Column("occurred_at", "Placed", Kind.DATETIME),
        Column("paid_date", "Paid on", Kind.DATE),
        Column("refunded_at", "Refunded at", Kind.DATETIME, shown=False),
        Column("refund_date", "Refunded on", Kind.DATE),
    ),
    default_sort=(SortKey("occurred_at", descending=True),),
    filters=(
        FilterSpec("channel", "Channel", FilterKind.CHOICE),
        FilterSpec("status", "Status", FilterKind.CHOICE),
    ),
    search_hint="Search order or customer",
)


class OrdersTable(_FiguresTable[OrderRow]):
    """One row per order (its payment and refund merged), newest first, with the day the customer
    first paid — so a trace of customers shows who was new."""

    spec = ORDERS_SPEC
    row_type = OrderRow

    def source(self) -> Source:
        o, c = ORDERS.c, CUSTOMERS.c
        return Source(
            from_=ORDERS.outerjoin(CUSTOMERS, c.customer_id == o.customer_id),
            columns={
                "order_id": o.order_id,
                "customer_id": o.customer_id,
                "customer_since": c.first_paid_date,
                "channel": o.channel,
                "status": o.status,
                "amount": o.amount,
                "refund_amount": o.refund_amount,
                "currency": o.currency,
                "occurred_at": o.occurred_at,
                "paid_date": o.paid_date,
                "refunded_at": o.refunded_at,
                "refund_date": o.refund_date,
            },
            primary_key=o.id,
            extra={"id": o.id},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        """Order and customer ids are codes, looked up from their start, in any letter case."""
        o = ORDERS.c
        prefix = like_pattern(text)[1:]
        return or_(o.order_id.ilike(prefix, escape="\\"), o.customer_id.ilike(prefix, escape="\\"))

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        o = ORDERS.c
        match key:
            case "paid_from":
                return o.paid_date >= filter_date(key, value)
            case "paid_to":
                return o.paid_date <= filter_date(key, value)
            case "refund_from":
                return o.refund_date >= filter_date(key, value)
            case "refund_to":
                return o.refund_date <= filter_date(key, value)
            case "paid":
                return o.paid_date.is_not(None) if _flag(key, value) else o.paid_date.is_(None)
            case "channel":
                return one_of(o.channel, key, value)
            case "status":
                return one_of(o.status, key, value)
            case "customer_id":
                return one_of(o.customer_id, key, value)
            case "order_id":
                return one_of(o.order_id, key, value)
        return super().filter(key, value)

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key == "status":
            return [Choice(status.value, status.value.capitalize()) for status in OrderStatus]
        return super().choices_query(session, key)


# -- order_lines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLineRow:
    id: int
    order_id: str
    line_no: int
    sku: str
    quantity: int
    unit_price: Decimal
    total: Decimal
    channel: str
    status: str
    paid_date: dt.date | None


ORDER_LINES_SPEC: Final = TableSpec(
    name="order_lines",
    title="Order lines",
    singular="order line",
    plural="order lines",
    columns=(
        Column("order_id", "Order"),
        Column("line_no", "Line", Kind.INTEGER),
        Column("sku", "SKU"),
        Column("quantity", "Quantity", Kind.INTEGER),
        Column("unit_price", "Unit price", Kind.MONEY),
        Column("total", "Total", Kind.MONEY),
        Column("channel", "Channel"),
        Column("status", "Order status", shown=False),
        Column("paid_date", "Paid on", Kind.DATE),
    ),
    default_sort=(SortKey("order_id", descending=True), SortKey("line_no")),
    filters=(FilterSpec("channel", "Channel", FilterKind.CHOICE),),
    search_hint="Search SKU or order",
)


class OrderLinesTable(_FiguresTable[OrderLineRow]):
    """What orders contained, with their order's channel and paid day (the units behind top
    sellers, sell-through and days of cover)."""

    spec = ORDER_LINES_SPEC
    row_type = OrderLineRow

    def source(self) -> Source:
        line, o = LINES.c, ORDERS.c
        return Source(
            from_=LINES.join(ORDERS, o.order_id == line.order_id),
            columns={
                "order_id": line.order_id,
                "line_no": line.line_no,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "total": line.quantity * line.unit_price,
                "channel": o.channel,
                "status": o.status,
                "paid_date": o.paid_date,
            },
            primary_key=line.id,
            extra={"id": line.id},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        line = LINES.c
        prefix = like_pattern(text)[1:]
        return or_(line.sku.ilike(prefix, escape="\\"), line.order_id.ilike(prefix, escape="\\"))

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        line, o = LINES.c, ORDERS.c
        match key:
            case "paid_from":
                return o.paid_date >= filter_date(key, value)
            case "paid_to":
                return o.paid_date <= filter_date(key, value)
            case "channel":
                return one_of(o.channel, key, value)
            case "sku":
                return one_of(line.sku, key, value)
            case "order_id":
                return one_of(line.order_id, key, value)
        return super().filter(key, value)


# -- analytics_events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyticsEventRow:
    id: int
    recorded_at: dt.datetime
    metric_type: str
    value: Decimal
    channel: str | None
    details: str


ANALYTICS_EVENTS_SPEC: Final = TableSpec(
    name="analytics_events",
    title="Analytics events",
    singular="event",
    plural="events",
    columns=(
        Column("recorded_at", "Recorded", Kind.DATETIME),
        Column("metric_type", "Metric"),
        Column("value", "Value", Kind.DECIMAL),
        Column("channel", "Channel"),
        Column("details", "Details", sortable=False),
    ),
    default_sort=(SortKey("recorded_at", descending=True),),
    filters=(FilterSpec("metric_type", "Metric", FilterKind.CHOICE),),
    search_hint="Search metric",
)


def event_channel() -> ColumnElement[str]:
    """The `channel` of an event's metadata (NULL without one), through the JSON type, which
    compiles for PostgreSQL (->>) and SQLite (JSON_EXTRACT) alike."""
    channel: ColumnElement[str] = AnalyticsData.meta["channel"].as_string()
    return channel


class AnalyticsEventsTable(_FiguresTable[AnalyticsEventRow]):
    """Recorded events (storefront sessions, page views, sign-ups …), newest first."""

    spec = ANALYTICS_EVENTS_SPEC
    row_type = AnalyticsEventRow

    def source(self) -> Source:
        e = EVENTS.c
        return Source(
            from_=EVENTS,
            columns={
                "recorded_at": e.recorded_at,
                "metric_type": e.metric_type,
                "value": e.value,
                "channel": event_channel(),
                "details": sql_cast(e["metadata"], String),
            },
            primary_key=e.id,
            extra={"id": e.id},
            # Time order is insertion order closely enough, and the id keeps it stable.
            sort={"recorded_at": e.recorded_at},
        )

    def search(self, text: str) -> ColumnElement[bool]:
        return EVENTS.c.metric_type.ilike(like_pattern(text), escape="\\")

    def filter(self, key: str, value: Any) -> ColumnElement[bool]:
        e = EVENTS.c
        match key:
            case "recorded_from":
                return e.recorded_at >= filter_moment(key, value)
            case "recorded_before":
                return e.recorded_at < filter_moment(key, value)
            case "metric_type":
                return one_of(e.metric_type, key, value)
            case "channel":
                return one_of(event_channel(), key, value)
        return super().filter(key, value)

    def choices_query(self, session: Session, key: str) -> list[Choice]:
        if key == "metric_type":
            return _distinct_choices(session, EVENTS.c.metric_type)
        return super().choices_query(session, key)


ANALYTICS_SPECS: Final[Sequence[TableSpec]] = (
    SALES_METRICS_SPEC,
    CUSTOMER_METRICS_SPEC,
    ORDERS_SPEC,
    ORDER_LINES_SPEC,
    ANALYTICS_EVENTS_SPEC,
)

ANALYTICS_TABLES: Final = (
    SalesMetricsTable,
    CustomerMetricsTable,
    OrdersTable,
    OrderLinesTable,
    AnalyticsEventsTable,
)
