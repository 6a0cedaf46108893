"""The daily metrics (`sales_metrics`, `customer_metrics`) and the `customers` roll-up, derived from
`order_events` inside the caller's transaction; the only code that writes them.

The definitions (a shop day is a calendar day in the shop's time zone):

- `sales_metrics(day, channel)`: revenue = the amounts of orders paid that day minus the refunds
  made that day (a refund lowers the day it happens, not the order's day; revenue may go below
  zero); orders = orders paid that day (a later refund does not un-count one); customers = their
  distinct customers. A row exists when the day and channel had a payment or a refund.
- `customer_metrics(day)`, all channels: total = distinct customers paying that day; new = those whose
  first paid order ever falls on that day; returning = total - new; average order value = the day's
  paid amounts ÷ its paid orders, rounded half-up to cents. A row exists on days with a payment.
- `item_sales_daily(day, channel, sku)`: the lines of the orders paid that day in that channel —
  orders holding the SKU, units, Σ quantity × unit price (before refunds: what left the shelf).
- `customer_periods(granularity, period_start)`: `customer_metrics`' customer figures for a whole
  ISO week (from Monday) or calendar month: distinct customers paying in it, new = those whose first
  paid order ever falls in it. Distinct customers do not add up from days, so a recomputed day
  recomputes its whole week and month. A row exists for periods with a payment.

Only whole days are recomputed, from the orders themselves, so the same events give the same
figures whatever order they arrived in and however often they were imported. The aggregation runs
in the database; the few rows per day are finished in Python with exact decimals, which keeps this
module portable (tests rebuild on SQLite too).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection, Iterable, Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy import ARRAY, Connection, String, any_, delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from ecomdesk.db.models import (
    Customer,
    CustomerMetric,
    CustomerPeriod,
    ItemSalesDaily,
    OrderEvent,
    OrderLine,
    SalesMetric,
    metadata,
)

_CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal("0.00")
#: Values per IN list on SQLite (its limit on bound variables is 32,766).
_SQLITE_CHUNK: Final = 10_000

_orders = metadata.tables[OrderEvent.__tablename__]
_customers = metadata.tables[Customer.__tablename__]
_sales = metadata.tables[SalesMetric.__tablename__]
_daily = metadata.tables[CustomerMetric.__tablename__]
_lines = metadata.tables[OrderLine.__tablename__]
_items = metadata.tables[ItemSalesDaily.__tablename__]
_periods = metadata.tables[CustomerPeriod.__tablename__]
#: The granularities `customer_periods` keeps.
DAY: Final = "day"
WEEK: Final = "week"
MONTH: Final = "month"


def shop_day(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.date:
    """The shop's calendar day of `moment` (which must carry its offset)."""
    if moment.tzinfo is None:
        raise ValueError("a moment without a time zone has no shop day")
    return moment.astimezone(zone).date()


def refresh(
    conn: Connection, *, days: Iterable[dt.date] = (), customer_ids: Iterable[str] = ()
) -> set[dt.date]:
    """Bring `customers` up to date for `customer_ids`, then recompute the metrics of `days` and of
    every day whose new/returning split moved because a customer's first paid day changed (an
    earlier order arriving late makes the old first day a returning one). Returns the days
    recomputed."""
    wanted = set(days)
    ids = sorted(set(customer_ids))
    if ids:
        wanted |= _refresh_customers(conn, ids)
    if wanted:
        _recompute_days(conn, sorted(wanted))
    return wanted


def rebuild(conn: Connection) -> int:
    """Everything from scratch: every customer's first paid day and every day's metrics (the demo
    seed; a change of the shop's time zone). Returns the number of days with metrics."""
    conn.execute(delete(_customers))
    firsts = select(_orders.c.customer_id, func.min(_orders.c.paid_date)).group_by(_orders.c.customer_id)
    conn.execute(insert(_customers).from_select(["customer_id", "first_paid_date"], firsts))
    conn.execute(delete(_sales))
    conn.execute(delete(_daily))
    conn.execute(delete(_items))
    conn.execute(delete(_periods))
    days = _write_days(conn, None)
    _write_periods(conn, _periods_of(days))
    return len(days)


# -- customers ----------------------------------------------------------------------------------


def _refresh_customers(conn: Connection, ids: Sequence[str]) -> set[dt.date]:
    """Set each customer's first paid day from their orders; the days on which it moved."""
    stored: dict[str, dt.date | None] = {}
    found: dict[str, dt.date | None] = {}
    for chunk in _chunks(conn, ids):
        query = select(_customers.c.customer_id, _customers.c.first_paid_date)
        # (update() would take a Result for a mapping: it has .keys())
        stored.update(conn.execute(query.where(_matches(conn, _customers.c.customer_id, chunk))).all())
        firsts = select(_orders.c.customer_id, func.min(_orders.c.paid_date)).group_by(_orders.c.customer_id)
        found.update(conn.execute(firsts.where(_matches(conn, _orders.c.customer_id, chunk))).all())
    moved: set[dt.date] = set()
    changed: list[dict[str, Any]] = []
    for customer_id in ids:
        new = found.get(customer_id)
        if customer_id in stored and stored[customer_id] == new:
            continue
        old = stored.get(customer_id)
        moved.update(day for day in (old, new) if day is not None)
        changed.append({"customer_id": customer_id, "first_paid_date": new})
    if changed:
        conn.execute(_upsert(conn), changed)
    return moved


def _upsert(conn: Connection) -> Any:
    """INSERT … ON CONFLICT (customer_id) DO UPDATE, in the dialect's own words."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_customers)
    return stmt.on_conflict_do_update(
        index_elements=[_customers.c.customer_id],
        set_={"first_paid_date": stmt.excluded.first_paid_date},
    )


# -- daily figures ------------------------------------------------------------------------------


def _recompute_days(conn: Connection, days: Sequence[dt.date]) -> None:
    for chunk in _chunks(conn, days):
        conn.execute(delete(_sales).where(_matches(conn, _sales.c.date, chunk)))
        conn.execute(delete(_daily).where(_matches(conn, _daily.c.date, chunk)))
        conn.execute(delete(_items).where(_matches(conn, _items.c.date, chunk)))
        _write_days(conn, chunk)
    touched = _periods_of(days)
    for granularity in (WEEK, MONTH):
        starts = sorted(start for unit, start, _end in touched if unit == granularity)
        for chunk in _chunks(conn, starts):
            conn.execute(
                delete(_periods).where(
                    _periods.c.granularity == granularity, _matches(conn, _periods.c.period_start, chunk)
                )
            )
    _write_periods(conn, touched)


def _write_days(conn: Connection, days: Sequence[dt.date] | None) -> set[dt.date]:
    """Aggregate and insert the metrics of `days` (None: every day). The old rows must be gone."""

    def within(column: ColumnElement[Any]) -> ColumnElement[bool]:
        return column.is_not(None) if days is None else _matches(conn, column, days)

    o = _orders.c
    paid = conn.execute(
        select(o.paid_date, o.channel, func.sum(o.amount), func.count(), func.count(o.customer_id.distinct()))
        .where(within(o.paid_date))
        .group_by(o.paid_date, o.channel)
    )
    sales: dict[tuple[dt.date, str], list[Any]] = {
        (day, channel): [_money(amount), int(orders), int(customers)]
        for day, channel, amount, orders, customers in paid
    }
    refunds = conn.execute(
        select(o.refund_date, o.channel, func.sum(o.refund_amount))
        .where(within(o.refund_date))
        .group_by(o.refund_date, o.channel)
    )
    for day, channel, refunded in refunds:
        row = sales.setdefault((day, channel), [_ZERO, 0, 0])
        row[0] -= _money(refunded)

    c = _customers.c
    daily = conn.execute(
        select(
            o.paid_date,
            func.count(o.customer_id.distinct()),
            func.count(o.customer_id.distinct()).filter(c.first_paid_date == o.paid_date),
            func.sum(o.amount),
            func.count(),
        )
        .select_from(_orders.join(_customers, c.customer_id == o.customer_id))
        .where(within(o.paid_date))
        .group_by(o.paid_date)
    )
    customer_rows = [
        {
            "date": day,
            "total_customers": int(total),
            "new_customers": int(new),
            "returning_customers": int(total) - int(new),
            "average_order_value": (_money(amount) / int(orders)).quantize(_CENT, ROUND_HALF_UP),
        }
        for day, total, new, amount, orders in daily
    ]
    sales_rows = [
        {"date": day, "channel": channel, "revenue": revenue, "orders": orders, "customers": customers}
        for (day, channel), (revenue, orders, customers) in sorted(sales.items())
    ]
    if sales_rows:
        conn.execute(insert(_sales), sales_rows)
    if customer_rows:
        conn.execute(insert(_daily), customer_rows)
    _write_items(conn, within(o.paid_date))
    return {day for day, _channel in sales}


def _write_items(conn: Connection, paid_within: ColumnElement[bool]) -> None:
    """What sold on the days `paid_within` selects, per channel and SKU, inserted by the database
    itself (a year holds some hundred thousand rows: no round trip through Python)."""
    o, line = _orders.c, _lines.c
    per_item = (
        select(
            o.paid_date,
            o.channel,
            line.sku,
            func.count(o.order_id.distinct()),
            func.sum(line.quantity),
            func.sum(line.quantity * line.unit_price),
        )
        .select_from(_lines.join(_orders, o.order_id == line.order_id))
        .where(paid_within)
        .group_by(o.paid_date, o.channel, line.sku)
    )
    columns = ["date", "channel", "sku", "orders", "units", "revenue"]
    conn.execute(insert(_items).from_select(columns, per_item))


# -- weeks and months ----------------------------------------------------------------------------


def period_start(day: dt.date, granularity: str) -> dt.date:
    """The first day of `day`'s period: the day itself, its ISO week (its Monday) or its month."""
    if granularity == DAY:
        return day
    return day - dt.timedelta(days=day.weekday()) if granularity == WEEK else day.replace(day=1)


def next_period_start(start: dt.date, granularity: str) -> dt.date:
    """The first day of the period after the one holding `start`."""
    start = period_start(start, granularity)
    if granularity == DAY:
        return start + dt.timedelta(days=1)
    return start + dt.timedelta(days=7) if granularity == WEEK else add_months(start, 1)


def period_end(start: dt.date, granularity: str) -> dt.date:
    """The last day of the period starting on `start`."""
    return next_period_start(start, granularity) - dt.timedelta(days=1)


def add_months(first: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after `first`'s month (negative: before)."""
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _periods_of(days: Iterable[dt.date]) -> list[tuple[str, dt.date, dt.date]]:
    """(granularity, first day, last day) of every week and month holding one of `days`."""
    starts = {(unit, period_start(day, unit)) for day in days for unit in (WEEK, MONTH)}
    return [(unit, start, period_end(start, unit)) for unit, start in sorted(starts)]


def _write_periods(conn: Connection, periods: Sequence[tuple[str, dt.date, dt.date]]) -> None:
    """Count and insert the customers of each period (its old row must be gone): one small query
    per period, each an index range over its days — portable, with no date truncation per order."""
    o, c = _orders.c, _customers.c
    rows = []
    for granularity, start, end in periods:
        paying = select(func.count(o.customer_id.distinct())).where(o.paid_date.between(start, end))
        first = select(func.count()).select_from(_customers).where(c.first_paid_date.between(start, end))
        total, new = conn.execute(select(paying.scalar_subquery(), first.scalar_subquery())).one()
        if total:
            rows.append({
                "granularity": granularity, "period_start": start, "total_customers": int(total),
                "new_customers": int(new), "returning_customers": int(total) - int(new),
            })  # fmt: skip
    if rows:
        conn.execute(insert(_periods), rows)


# -- helpers ------------------------------------------------------------------------------------


def _money(value: Any) -> Decimal:
    """A summed amount as exact cents (SQLite hands sums back through a float)."""
    return Decimal(value or 0).quantize(_CENT, ROUND_HALF_UP)


def _chunks(conn: Connection, values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """PostgreSQL takes any number of values as one array parameter; SQLite needs short IN lists."""
    if conn.dialect.name == "postgresql":
        yield values
        return
    for start in range(0, len(values), _SQLITE_CHUNK):
        yield values[start : start + _SQLITE_CHUNK]


def _matches(conn: Connection, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """`column` is one of `values`: `= ANY(array)` on PostgreSQL (one parameter, one plan), IN elsewhere."""
    if conn.dialect.name == "postgresql":
        array_type = ARRAY(String) if column.type.python_type is str else ARRAY(column.type)
        return column == any_(literal(list(values), array_type))
    return column.in_(list(values))
