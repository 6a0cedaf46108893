"""Analytics: the dashboard's numbers, read from the order and metric tables in one unit of work.

Every figure comes with a `Trace` (the table and filters that select the rows it was computed
from), so a card's number can be opened as a grid and checked. The queries use only portable SQL
(plain dates, no time zone arithmetic; week and month buckets by date comparisons), so
they run unchanged on the offline snapshot (SQLite); tests run them on both. `read_dashboard` is
the whole read on a session of either database; the service adds the permission and the unit of work.

Percentages (`Kind.PERCENT`) are percent points: 25.0 means a quarter.

What each figure means (a shop day is a calendar day in the shop's time zone; a paid order is an
order with a paid day — a later refund does not un-pay it; the channel filter applies to every
sales figure):

- revenue: payments less refunds, each on its own day (`sales_metrics`); orders: paid orders.
- customers: distinct customers with a paid order in the period; new: those whose first paid
  order ever lies in the period (for a bucket: in the bucket), returning: the others. Without a
  channel filter a day's figures are `customer_metrics`' row of that day, and a whole week's or
  month's are `customer_periods`' row (a bucket clipped by the range is counted from the orders).
- average order value: the amounts of the period's paid orders ÷ their number, *before* refunds
  (what customers spent at checkout, as `customer_metrics` has it; refunds show in revenue). The
  card and the chart use the same rule.
- stock figures are "now" (live items), whatever the range; sales rates follow the range and the
  channel filter.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import json
import math
import queue
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import IO, Any, Final, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    Engine,
    Select,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ecomdesk.db.catalog import DEFAULT_SETTINGS
from ecomdesk.db.metrics import add_months, next_period_start, period_end, period_start, shop_day
from ecomdesk.db.models import AnalyticsData, CustomerPeriod, InventoryItem, ItemSalesDaily, SystemSetting
from ecomdesk.services.analytics_tables import (
    CUSTOMERS,
    DAILY_CUSTOMERS,
    EVENTS,
    ORDERS,
    SALES,
    event_channel,
)
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.inventory import group_summaries
from ecomdesk.services.row_table import csv_rows
from ecomdesk.services.settings import KEYS
from ecomdesk.services.tables import Column, Kind, csv_header


class Granularity(enum.StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, starting on Monday
    MONTH = "month"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Preset(enum.StrEnum):
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    LAST_90_DAYS = "90d"
    YEAR_TO_DATE = "ytd"
    LAST_12_MONTHS = "12m"
    CUSTOM = "custom"

    @property
    def label(self) -> str:
        return _PRESET_LABELS[self]


_PRESET_LABELS: Final = {
    Preset.LAST_7_DAYS: "Last 7 days",
    Preset.LAST_30_DAYS: "Last 30 days",
    Preset.LAST_90_DAYS: "Last 90 days",
    Preset.YEAR_TO_DATE: "Year to date",
    Preset.LAST_12_MONTHS: "Last 12 months",
    Preset.CUSTOM: "Custom",
}

_PRESET_DAYS: Final = {Preset.LAST_7_DAYS: 7, Preset.LAST_30_DAYS: 30, Preset.LAST_90_DAYS: 90}


@dataclass(frozen=True)
class DateRange:
    """Shop days from `start` to `end`, both included."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> DateRange:
        """The period of equal length that ends the day before this one starts."""
        end = self.start - dt.timedelta(days=1)
        return DateRange(end - dt.timedelta(days=self.days - 1), end)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end

    @classmethod
    def preset(cls, preset: Preset, today: dt.date) -> DateRange:
        """The range a preset means on `today` (the shop's today), `today` included.
        `Preset.CUSTOM` has no range of its own: ValueError."""
        if preset in _PRESET_DAYS:
            return cls(today - dt.timedelta(days=_PRESET_DAYS[preset] - 1), today)
        if preset is Preset.YEAR_TO_DATE:
            return cls(today.replace(month=1, day=1), today)
        if preset is Preset.LAST_12_MONTHS:
            try:
                a_year_ago = today.replace(year=today.year - 1)
            except ValueError:  # 29 February: last year's closest day is the 28th
                a_year_ago = dt.date(today.year - 1, 2, 28)
            return cls(a_year_ago + dt.timedelta(days=1), today)
        raise ValueError(f"{preset.label} has no range of its own: give the days.")


@dataclass(frozen=True)
class DashboardQuery:
    range: DateRange
    granularity: Granularity = Granularity.DAY
    #: Only these channels; empty: every channel.
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trace:
    """Where a number comes from: the rows of `Services.tables[table]` that `filters` select
    (`ListQuery.filters`), shown in a grid titled `title`."""

    table: str
    filters: Mapping[str, Any]
    title: str


@dataclass(frozen=True)
class Kpi:
    """One card: a figure, the same figure for the previous period (None: no comparison, e.g. stock
    "now"), how it reads, and the rows behind it."""

    key: str
    title: str
    kind: Kind
    value: Decimal | int | None
    previous: Decimal | int | None = None
    trace: Trace | None = None
    #: A short line under the figure, e.g. "312 new · 1,204 returning".
    note: str = ""
    #: True where a rise is bad news (low-stock count, out of stock): the card colours the change.
    lower_is_better: bool = False

    @property
    def change(self) -> Decimal | None:
        """Relative change against `previous` in percent points; None without a comparable base."""
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return (Decimal(self.value) - Decimal(self.previous)) * 100 / abs(Decimal(self.previous))


@dataclass(frozen=True)
class Dataset:
    """One chart's numbers: what it plots and what its CSV export writes, column by column."""

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    trace: Trace | None = None

    def values(self, key: str) -> list[Any]:
        index = [c.key for c in self.columns].index(key)
        return [row[index] for row in self.rows]

    def write_csv(self, out: IO[str]) -> int:
        """The dataset as CSV, cell by cell as every list's export writes it (a header of column
        titles; ISO days, plain numbers, formula-neutralised text); returns the rows written."""
        out.write(csv_header(column.title for column in self.columns).decode())
        out.write(csv_rows(self.rows, [column.kind for column in self.columns]).decode())
        return len(self.rows)


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows for one query. Dataset column keys (the UI relies on them):

    - `sales`: period (DATE, the bucket's first day), revenue (MONEY), orders (INTEGER)
    - `by_channel`: period, then one MONEY column per channel shown, keyed by the channel name
    - `customers`: period, new (INTEGER), returning (INTEGER)
    - `aov`: period, aov (MONEY; None in a period without paid orders)
    - `conversion`: period, sessions, orders (INTEGER), rate (PERCENT); no rows when no sessions
      are recorded for the range
    - `inventory_by_category`: category (TEXT), items, units (INTEGER), value (MONEY), low_stock
    - `cohorts`: cohort (DATE, first day of the first-order month), customers (INTEGER), then
      m1 … m11 (PERCENT, None where that month lies after the range's end)
    - `segments`: segment (TEXT), customers (INTEGER), revenue (MONEY), revenue_share (PERCENT),
      rule (TEXT: how the segment is defined)
    - `top_sellers`: sku, name (TEXT), units (INTEGER), revenue (MONEY), stock (INTEGER),
      days_of_cover (DECIMAL, None when it did not sell)
    - `events`: period, then one INTEGER column per recorded event type (other than sessions)

    Every period of the range has its row (zeros where nothing happened); periods are the range's
    days, ISO weeks or months, the first and last clipped to the range (a week starting before
    the range is labelled with the range's first day).
    """

    query: DashboardQuery
    currency: str
    timezone: str
    #: Every channel that has sales, for the filter.
    channels: tuple[str, ...]
    #: revenue, orders, customers, aov, new_share, inventory_value, low_stock — in this order.
    kpis: tuple[Kpi, ...]
    #: stock_value, days_of_cover, sell_through, out_of_stock — in this order.
    health: tuple[Kpi, ...]
    sales: Dataset
    by_channel: Dataset
    customers: Dataset
    aov: Dataset
    conversion: Dataset
    inventory_by_category: Dataset
    cohorts: Dataset
    segments: Dataset
    top_sellers: Dataset
    events: Dataset
    #: When the figures were read (the status line says how fresh they are).
    read_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def kpi(self, key: str) -> Kpi:
        for kpi in (*self.kpis, *self.health):
            if kpi.key == key:
                return kpi
        raise KeyError(key)

    def datasets(self) -> tuple[Dataset, ...]:
        """Every chart's dataset, in the order of the fields above."""
        return (
            self.sales,
            self.by_channel,
            self.customers,
            self.aov,
            self.conversion,
            self.inventory_by_category,
            self.cohorts,
            self.segments,
            self.top_sellers,
            self.events,
        )


# -- constants and small helpers ----------------------------------------------------------------

#: The `analytics_data` metric whose values are storefront sessions (metadata: channel).
SESSIONS: Final = "storefront_sessions"
METRIC_TYPE_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: `analytics_data.value` is NUMERIC(18, 4).
MAX_EVENT_VALUE: Final = Decimal("99999999999999.9999")
TOP_SELLERS: Final = 10
#: Days of cover divide stock by the average daily units sold over (at most) this many last days.
COVER_DAYS: Final = 30
#: Cohorts: first-order months within the range, at most this many (the latest).
COHORT_MONTHS: Final = 12
#: Retention columns m1 … m11.
RETENTION_MONTHS: Final = 11
#: Segments look at paid orders in this many days up to the range's end.
SEGMENT_DAYS: Final = 365

#: PostgreSQL's memory per sort or hash of the dashboard's read (the default 4MB spills to disk).
WORK_MEM: Final = "64MB"

_CENT: Final = Decimal("0.01")
_TENTH: Final = Decimal("0.1")
_ZERO: Final = Decimal("0.00")

_ORDERS_C = ORDERS.c
_SALES_C = SALES.c
_CUSTOMERS_C = CUSTOMERS.c
_ITEMS: Final = cast(Table, InventoryItem.__table__)
_ITEM_SALES: Final = cast(Table, ItemSalesDaily.__table__)
_CUSTOMER_PERIODS: Final = cast(Table, CustomerPeriod.__table__)


def _money(value: Any) -> Decimal:
    """A summed amount as exact cents (SQLite hands sums back through a float)."""
    return Decimal(str(value or 0)).quantize(_CENT, ROUND_HALF_UP)


def _ratio(
    part: Decimal | int, whole: Decimal | int, scale: int = 100, places: Decimal = _TENTH
) -> Decimal | None:
    """part ÷ whole × scale, rounded half-up; None without a whole to divide by."""
    if not whole:
        return None
    return (Decimal(part) * scale / Decimal(whole)).quantize(places, ROUND_HALF_UP)


def _in_channels(column: ColumnElement[Any], channels: Sequence[str]) -> ColumnElement[bool] | None:
    return column.in_(channels) if channels else None


_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


def _where(stmt: _S, *conditions: ColumnElement[bool] | None) -> _S:
    for condition in conditions:
        if condition is not None:
            stmt = stmt.where(condition)
    return stmt


def _trace_channels(channels: Sequence[str]) -> dict[str, Any]:
    return {"channel": tuple(channels)} if channels else {}


def _day_text(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def _range_text(days: DateRange) -> str:
    if days.start == days.end:
        return _day_text(days.start)
    return f"{_day_text(days.start)} – {_day_text(days.end)}"


def _channels_text(channels: Sequence[str]) -> str:
    return f" ({', '.join(channels)})" if channels else ""


def _moment(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The moment a shop day starts, in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands stored moments back without their zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class Periods:
    """The buckets of a range at a granularity: every day, ISO week or month it touches, the first
    and last clipped to the range, each keyed by its first day within the range."""

    def __init__(self, days: DateRange, granularity: Granularity) -> None:
        self.range = days
        self.granularity = granularity
        starts = []
        start = days.start
        while start <= days.end:
            starts.append(start)
            start = next_period_start(start, granularity)
        self.starts: tuple[dt.date, ...] = tuple(starts)

    def index(self, day: dt.date) -> int:
        return bisect.bisect_right(self.starts, day) - 1

    def key(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """What to group a date column of the range by: the day itself, or its period's index
        (`_bucket`: a few comparisons, where truncating every order's date costs more than the
        grouping it feeds). `start_of` turns a key back into the (clipped) period start."""
        if self.granularity is Granularity.DAY:
            return column
        return _bucket(column, self.starts)

    def start_of(self, key: Any) -> dt.date:
        if self.granularity is Granularity.DAY:
            return cast(dt.date, key)
        return self.starts[int(key)]


def _bucket(column: ColumnElement[Any], starts: Sequence[dt.date]) -> ColumnElement[int]:
    """The index of the last of the ascending `starts` at or before a date column's value (0 below
    the second): a balanced tree of CASEs, so each row takes log2(len(starts)) date comparisons —
    portable SQL, unlike the dialects' date truncation, and cheaper on PostgreSQL."""

    def node(low: int, high: int) -> ColumnElement[int]:  # an index in [low, high)
        if high - low == 1:
            return literal(low)
        middle = (low + high) // 2
        return case((column < starts[middle], node(low, middle)), else_=node(middle, high))

    return node(0, len(starts))


def _period_column() -> Column:
    return Column("period", "Period", Kind.DATE)


# -- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopSettings:
    currency: str
    timezone: str

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def shop_settings(session: Session) -> ShopSettings:
    """The shop's currency and time zone (defaults where unset, e.g. on a bare snapshot)."""
    keys = {"currency": KEYS["currency"], "timezone": KEYS["timezone"]}
    stored = {
        key: value
        for key, value in session.execute(
            select(SystemSetting.key, SystemSetting.value).where(SystemSetting.key.in_(keys.values()))
        )
    }
    values = {}
    for name, key in keys.items():
        value = stored.get(key)
        values[name] = value if isinstance(value, str) and value else str(DEFAULT_SETTINGS[key])
    try:
        zoneinfo.ZoneInfo(values["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        values["timezone"] = str(DEFAULT_SETTINGS[KEYS["timezone"]])
    return ShopSettings(**values)


# -- the read -------------------------------------------------------------------------------------


#: Runs independent reads (each a function of a session) and returns their results by name. The
#: plain one runs them one after the other on the caller's session; the service's may spread them
#: over several connections that see the same snapshot (`snapshot_lanes`).
Runner = Callable[[Mapping[str, Callable[[Session], Any]]], dict[str, Any]]


def in_sequence(session: Session) -> Runner:
    def run(reads: Mapping[str, Callable[[Session], Any]]) -> dict[str, Any]:
        return {name: read(session) for name, read in reads.items()}

    return run


def read_dashboard(
    session: Session,
    query: DashboardQuery,
    *,
    read_at: dt.datetime | None = None,
    run: Runner | None = None,
) -> Dashboard:
    """Every figure of the dashboard, read on `session` (PostgreSQL or a SQLite snapshot).

    The big tables are read in five passes, each over the range (or the previous period, or the
    12 months the segments need), and each grouping before it counts — distinct customers as
    groups, never as COUNT(DISTINCT), which sorts: what sells (the order lines), customers per
    period, the customers of the range with their segments, those of the previous period, and the
    cohorts. Everything else comes from the daily tables. The passes are independent reads, so
    `run` may run them side by side; the heaviest are listed first."""
    problems = dashboard_query_problems(query)
    if problems:
        raise ValidationError(problems)
    shop = shop_settings(session)
    days, zone = query.range, shop.zone
    channels = tuple(dict.fromkeys(query.channels))  # each once, in the order asked
    periods = Periods(days, query.granularity)
    reads: dict[str, Callable[[Session], Any]] = {
        "selling": lambda s: _selling(s, days, channels),
        "periods": lambda s: _period_pass(s, periods, channels),
        "customers": lambda s: _customer_pass(s, days, channels),
        "cohorts": lambda s: _cohort_counts(s, days, channels),
        "before": lambda s: _period_customers(s, days.previous(), channels),
        "sales": lambda s: _sales_days(s, DateRange(days.previous().start, days.end), channels),
        "inventory": _inventory,
        "sessions": lambda s: _sessions(s, periods, channels, zone),
        "events": lambda s: _event_counts(s, periods, channels, zone),
        "channels": all_channels,
    }
    found = (run or in_sequence(session))(reads)
    sales_rows: list[_SalesDay] = found["sales"]
    customers: _Customers = found["customers"]
    inventory: _Inventory = found["inventory"]
    selling: _Selling = found["selling"]
    sales, by_channel = _sales_datasets(periods, sales_rows, channels, found["channels"])
    return Dashboard(
        query=query,
        currency=shop.currency,
        timezone=shop.timezone,
        channels=found["channels"],
        kpis=_kpis(days, channels, sales_rows, customers, found["before"], inventory),
        health=_health(channels, inventory, selling),
        sales=sales,
        by_channel=by_channel,
        customers=_customers_dataset(periods, found["periods"], channels),
        aov=_aov_dataset(periods, sales_rows, channels),
        conversion=_conversion_dataset(periods, channels, zone, found["sessions"], sales),
        inventory_by_category=inventory.by_category,
        cohorts=_cohorts_dataset(days, channels, found["cohorts"]),
        segments=_segments_dataset(days, channels, customers),
        top_sellers=selling.top_sellers,
        events=_events_dataset(periods, channels, zone, found["events"]),
        read_at=read_at or dt.datetime.now(dt.UTC),
    )


def dashboard_query_problems(query: DashboardQuery) -> dict[str, str]:
    problems: dict[str, str] = {}
    if query.range.end < query.range.start:
        problems["range"] = "The range ends before it starts."
    if not all(isinstance(c, str) and c for c in query.channels):
        problems["channels"] = "Channels are names."
    return problems


def all_channels(session: Session) -> tuple[str, ...]:
    stmt = select(_SALES_C.channel).distinct().order_by(_SALES_C.channel)
    return tuple(session.scalars(stmt))


# -- sales: the daily table ---------------------------------------------------------------------


@dataclass(frozen=True)
class _SalesDay:
    day: dt.date
    channel: str
    revenue: Decimal
    orders: int
    #: What that day's paid orders came to, before refunds (revenue + the day's refunds).
    paid: Decimal


def _sales_days(session: Session, days: DateRange, channels: Sequence[str]) -> list[_SalesDay]:
    """`sales_metrics` rows of the days (a few per day: small enough to bucket in Python), with
    the amounts paid before refunds: revenue is payments less the day's refunds, and refunds are
    few (an index on their day), so adding them back is cheaper than summing every order."""
    s, o = _SALES_C, _ORDERS_C
    refunds_stmt = _where(
        select(o.refund_date, o.channel, func.sum(o.refund_amount))
        .where(o.refund_date.between(days.start, days.end))
        .group_by(o.refund_date, o.channel),
        _in_channels(o.channel, channels),
    )
    refunded = {(day, channel): _money(amount) for day, channel, amount in session.execute(refunds_stmt)}
    stmt = _where(
        select(s.date, s.channel, s.revenue, s.orders).where(s.date.between(days.start, days.end)),
        _in_channels(s.channel, channels),
    )
    rows = []
    for day, channel, revenue, orders in session.execute(stmt):
        net = _money(revenue)
        rows.append(_SalesDay(day, channel, net, int(orders), net + refunded.get((day, channel), _ZERO)))
    return rows


def _sales_datasets(
    periods: Periods, rows: Sequence[_SalesDay], channels: Sequence[str], known: Sequence[str]
) -> tuple[Dataset, Dataset]:
    days = periods.range
    revenue = [_ZERO] * len(periods.starts)
    orders = [0] * len(periods.starts)
    by_channel: dict[str, list[Decimal]] = defaultdict(lambda: [_ZERO] * len(periods.starts))
    for row in rows:
        if row.day not in days:
            continue
        i = periods.index(row.day)
        revenue[i] += row.revenue
        orders[i] += row.orders
        by_channel[row.channel][i] += row.revenue
    trace = _sales_trace(days, channels)
    sales = Dataset(
        "sales",
        "Revenue and orders",
        (
            _period_column(),
            Column("revenue", "Revenue", Kind.MONEY),
            Column("orders", "Orders", Kind.INTEGER),
        ),
        tuple(zip(periods.starts, revenue, orders, strict=True)),
        trace,
    )
    # The channels shown: those asked for (in that order), else those with sales in the range.
    shown = list(channels) if channels else [c for c in known if c in by_channel]
    shown += sorted(set(by_channel) - set(shown))
    columns = (_period_column(), *(Column(c, c, Kind.MONEY) for c in shown))
    rows_out = tuple((start, *(by_channel[c][i] for c in shown)) for i, start in enumerate(periods.starts))
    return sales, Dataset("by_channel", "Revenue by channel", columns, rows_out, trace)


def _sales_trace(days: DateRange, channels: Sequence[str]) -> Trace:
    return Trace(
        "sales_metrics",
        {"from": days.start, "to": days.end, **_trace_channels(channels)},
        f"Daily sales, {_range_text(days)}{_channels_text(channels)}",
    )


def _aov(amount: Decimal, orders: int) -> Decimal | None:
    return _ratio(amount, orders, scale=1, places=_CENT)


def _aov_dataset(periods: Periods, rows: Sequence[_SalesDay], channels: Sequence[str]) -> Dataset:
    """The amounts paid ÷ the paid orders of each period (None in a period without any)."""
    paid = [_ZERO] * len(periods.starts)
    orders = [0] * len(periods.starts)
    for row in rows:
        if row.day in periods.range:
            i = periods.index(row.day)
            paid[i] += row.paid
            orders[i] += row.orders
    return Dataset(
        "aov",
        "Average order value",
        (_period_column(), Column("aov", "Average order value", Kind.MONEY)),
        tuple((start, _aov(paid[i], orders[i])) for i, start in enumerate(periods.starts)),
        _orders_trace(periods.range, channels, "Paid orders"),
    )


def _orders_trace(days: DateRange, channels: Sequence[str], title: str) -> Trace:
    return Trace(
        "orders",
        {"paid_from": days.start, "paid_to": days.end, **_trace_channels(channels)},
        f"{title}, {_range_text(days)}{_channels_text(channels)}",
    )


# -- customers: the KPIs and the segments in one pass ---------------------------------------------


@dataclass(frozen=True)
class Segment:
    key: str
    name: str
    rule: str


SEGMENTS: Final = (
    Segment(
        "champions", "Champions",
        "Paid within the last 30 days, 3 or more orders in the 12 months, and spent at least the "
        "average of the customers here",
    ),
    Segment(
        "loyal", "Loyal", "3 or more orders in the 12 months and paid within the last 90 days (not Champions)"
    ),
    Segment("promising", "Promising", "Paid within the last 30 days, fewer than 3 orders in the 12 months"),
    Segment("attention", "Needs attention", "Last paid 31-90 days ago, fewer than 3 orders in the 12 months"),
    Segment("at_risk", "At risk", "Last paid 91-180 days ago"),
    Segment("hibernating", "Hibernating", "Last paid 181-365 days ago"),
)  # fmt: skip


@dataclass(frozen=True)
class _Customers:
    """Distinct customers with a paid order in the range, the new ones among them (first paid order
    ever in it), and each segment's customers and spend."""

    now: int
    new: int
    segments: Mapping[str, tuple[int, Decimal]]


def _segment_window(days: DateRange) -> DateRange:
    return DateRange(days.end - dt.timedelta(days=SEGMENT_DAYS - 1), days.end)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def customer_segment_rows(days: DateRange, channels: Sequence[str]) -> Select[Any]:
    """One row per customer with a paid order in the range or in the segments' 12 months up to its
    end: `customer_id`, `segment` (a `SEGMENTS` key; None for one whose paid orders all lie before
    the 12 months), `last` (their last paid day), `orders` and `spend` (paid in the 12 months),
    and `first` (with a channel filter: their first paid day ever when it lies in the range;
    otherwise None). The dashboard counts these rows per segment; the customer-segments report
    lists them — one rule for both.

    Segments: recency, frequency and monetary value over the paid orders of the 365 days up to the
    range's end; every customer with one lands in exactly one segment (the first rule of
    `SEGMENTS` that fits)."""
    o, c = _ORDERS_C, _CUSTOMERS_C
    window = _segment_window(days)
    scan = DateRange(min(days.start, window.start), days.end)
    # Only a range longer than the 12 months reads orders the segments must leave out.
    in_window = o.paid_date >= window.start if scan.start < window.start else None
    per_customer = _where(
        select(
            o.customer_id.label("customer_id"),
            func.max(o.paid_date).label("last"),
            (func.count() if in_window is None else func.sum(_flag(in_window))).label("orders"),
            # Rounded to cents: the server's exact sum as it is; on a snapshot (money as doubles)
            # equal spends stay equal, so ties sort by customer as they do on the server.
            func.round(
                func.sum(o.amount if in_window is None else case((in_window, o.amount), else_=0)), 2
            ).label("spend"),
        )
        .where(o.paid_date.between(scan.start, scan.end))
        .group_by(o.customer_id),
        _in_channels(o.channel, channels),
    ).subquery("per_customer")
    p = per_customer.c
    average = func.avg(case((p.orders > 0, p.spend))).over().label("average")
    if channels:
        # Who is new in the range among these channels' customers: those first seen in it (a
        # small set to join). Without a filter that is simply everyone first seen in it.
        recent = select(c.customer_id, c.first_paid_date).where(c.first_paid_date >= days.start).subquery()
        joined = per_customer.outerjoin(recent, recent.c.customer_id == p.customer_id)
        scored = select(per_customer, recent.c.first_paid_date.label("first"), average).select_from(joined)
    else:
        scored = select(per_customer, literal(None, Date()).label("first"), average)
    s = scored.subquery("scored").c

    def within(n: int) -> dt.date:
        return days.end - dt.timedelta(days=n - 1)

    segment = case(
        (s.orders == 0, None),
        (and_(s.last >= within(30), s.orders >= 3, s.spend >= s.average), "champions"),
        (and_(s.orders >= 3, s.last >= within(90)), "loyal"),
        (s.last >= within(30), "promising"),
        (s.last >= within(90), "attention"),
        (s.last >= within(180), "at_risk"),
        else_="hibernating",
    ).label("segment")
    return select(s.customer_id, segment, s.last, s.orders, s.spend, s.first)


def _customer_pass(session: Session, days: DateRange, channels: Sequence[str]) -> _Customers:
    """The customers of the range and of the segments' 12 months (`customer_segment_rows`),
    counted per segment and as customers of the range, in one pass."""
    s = customer_segment_rows(days, channels).subquery("segmented").c
    in_range = s.last >= days.start  # the last paid order in the range: a customer of the range
    stmt = select(
        s.segment,
        func.count(),
        func.sum(s.spend),
        func.sum(_flag(in_range)),
        func.sum(_flag(and_(in_range, s.first.is_not(None)))),
    ).group_by(s.segment)
    now = new = 0
    segments: dict[str, tuple[int, Decimal]] = {}
    for key, customers, spend, in_range_count, new_count in session.execute(stmt):
        now += int(in_range_count or 0)
        new += int(new_count or 0)
        if key is not None:
            segments[key] = (int(customers), _money(spend))
    if not channels:
        new = _first_paid_in(session, days)
    return _Customers(now, new, segments)


def _period_customers(session: Session, days: DateRange, channels: Sequence[str]) -> tuple[int, int]:
    """Distinct customers with a paid order in `days`, and those among them first seen in it."""
    o, c = _ORDERS_C, _CUSTOMERS_C
    paying = _where(
        select(o.customer_id.label("customer_id"))
        .where(o.paid_date.between(days.start, days.end))
        .group_by(o.customer_id),
        _in_channels(o.channel, channels),
    ).subquery("paying")
    if not channels:
        # Whoever first paid in the period paid in it: no need to match them up.
        customers = session.scalar(select(func.count()).select_from(paying))
        return int(customers or 0), _first_paid_in(session, days)
    firsts = select(c.customer_id).where(c.first_paid_date.between(days.start, days.end)).subquery()
    stmt = select(func.count(), func.count(firsts.c.customer_id)).select_from(
        paying.outerjoin(firsts, firsts.c.customer_id == paying.c.customer_id)
    )
    customers, new = session.execute(stmt).one()
    return int(customers), int(new)


def _first_paid_in(session: Session, days: DateRange) -> int:
    """Customers whose first paid order ever lies in `days` (an index range on `customers`)."""
    c = _CUSTOMERS_C
    stmt = select(func.count()).where(c.first_paid_date.between(days.start, days.end))
    return int(session.scalar(stmt) or 0)


def _segments_dataset(days: DateRange, channels: Sequence[str], customers: _Customers) -> Dataset:
    total = sum((spend for _count, spend in customers.segments.values()), _ZERO)
    rows = []
    for seg in SEGMENTS:
        count, spend = customers.segments.get(seg.key, (0, _ZERO))
        rows.append((seg.name, count, spend, _ratio(spend, total), seg.rule))
    return Dataset(
        "segments",
        "Customer segments",
        (
            Column("segment", "Segment"),
            Column("customers", "Customers", Kind.INTEGER),
            Column("revenue", "Revenue", Kind.MONEY),
            Column("revenue_share", "Share of revenue", Kind.PERCENT),
            Column("rule", "Rule"),
        ),
        tuple(rows),
        _orders_trace(_segment_window(days), channels, "Paid orders"),
    )


# -- customers per period -------------------------------------------------------------------------


def _period_pass(
    session: Session, periods: Periods, channels: Sequence[str]
) -> dict[dt.date, tuple[int, int]]:
    """Per period: distinct customers with a paid order in it, and the new ones among them (first
    paid order ever in that period — it is never after the order, so being first seen in the
    range and in the same period is all it takes)."""
    days = periods.range
    if periods.granularity is Granularity.DAY and not channels:
        # Exactly the daily table's figures: no need to count them again.
        d = DAILY_CUSTOMERS.c
        stmt = select(d.date, d.total_customers, d.new_customers).where(d.date.between(days.start, days.end))
        return {day: (int(total), int(new)) for day, total, new in session.execute(stmt)}
    if not channels:
        # Whole weeks and months are the roll-up's rows; only the clipped first and last periods
        # (partial: the roll-up counts the whole period) are counted from the orders.
        whole, partial = _whole_periods(periods)
        found = _rolled_up_periods(session, periods.granularity, whole)
        if partial:
            found.update(_counted_periods(session, periods, channels, partial))
        return found
    return _counted_periods(session, periods, channels, [(days.start, days.end)])


def _whole_periods(periods: Periods) -> tuple[list[dt.date], list[tuple[dt.date, dt.date]]]:
    """The starts of the range's whole periods, and the day spans of its clipped ones."""
    whole: list[dt.date] = []
    partial: list[tuple[dt.date, dt.date]] = []
    for start in periods.starts:
        end = period_end(start, periods.granularity)
        if period_start(start, periods.granularity) == start and end <= periods.range.end:
            whole.append(start)
        else:
            partial.append((start, min(end, periods.range.end)))
    return whole, partial


def _rolled_up_periods(
    session: Session, granularity: Granularity, starts: Sequence[dt.date]
) -> dict[dt.date, tuple[int, int]]:
    """(total, new) customers of whole weeks or months, as `customer_periods` keeps them."""
    if not starts:
        return {}
    p = _CUSTOMER_PERIODS.c
    stmt = select(p.period_start, p.total_customers, p.new_customers).where(
        p.granularity == granularity.value, p.period_start.between(starts[0], starts[-1])
    )
    return {start: (int(total), int(new)) for start, total, new in session.execute(stmt)}


def _counted_periods(
    session: Session,
    periods: Periods,
    channels: Sequence[str],
    spans: Sequence[tuple[dt.date, dt.date]],
) -> dict[dt.date, tuple[int, int]]:
    """(total, new) customers of the periods within `spans` (whole periods, or the range),
    counted from the paid orders."""
    days = periods.range

    def within(column: ColumnElement[Any]) -> ColumnElement[bool]:
        return or_(*(column.between(low, high) for low, high in spans))

    o, c = _ORDERS_C, _CUSTOMERS_C
    start = periods.key(o.paid_date).label("start")
    pairs = _where(
        select(o.customer_id.label("customer_id"), start)
        .where(within(o.paid_date))
        .group_by(o.customer_id, start),
        _in_channels(o.channel, channels),
    ).subquery("pairs")
    if not channels:
        # Everyone first seen in a period paid in it: count them apart, without matching.
        totals = select(pairs.c.start, func.count()).group_by(pairs.c.start)
        first = periods.key(c.first_paid_date).label("first")
        firsts = select(first, func.count()).where(within(c.first_paid_date)).group_by(first)
        new_by_start = {periods.start_of(key): int(n) for key, n in session.execute(firsts)}
        return {
            periods.start_of(key): (int(total), new_by_start.get(periods.start_of(key), 0))
            for key, total in session.execute(totals)
        }
    # A customer with a paid order in the range was first seen no later than it: every first
    # day joined here lies in the range, where `key` applies (not to NULL, the unmatched).
    recent = select(c.customer_id, c.first_paid_date).where(c.first_paid_date >= days.start).subquery()
    first_day = recent.c.first_paid_date
    is_new = and_(first_day.is_not(None), periods.key(first_day) == pairs.c.start)
    stmt = (
        select(pairs.c.start, func.count(), func.sum(case((is_new, 1), else_=0)))
        .select_from(pairs.outerjoin(recent, recent.c.customer_id == pairs.c.customer_id))
        .group_by(pairs.c.start)
    )
    return {periods.start_of(key): (int(total), int(new or 0)) for key, total, new in session.execute(stmt)}


def _customers_dataset(
    periods: Periods, per_period: Mapping[dt.date, tuple[int, int]], channels: Sequence[str]
) -> Dataset:
    rows = []
    for start in periods.starts:
        total, new = per_period.get(start, (0, 0))
        rows.append((start, new, total - new))
    return Dataset(
        "customers",
        "New and returning customers",
        (
            _period_column(),
            Column("new", "New", Kind.INTEGER),
            Column("returning", "Returning", Kind.INTEGER),
        ),
        tuple(rows),
        _orders_trace(periods.range, channels, "Paid orders"),
    )


# -- KPIs -----------------------------------------------------------------------------------------


def _kpis(
    days: DateRange,
    channels: Sequence[str],
    sales_rows: Sequence[_SalesDay],
    customers: _Customers,
    previous_customers: tuple[int, int],
    inventory: _Inventory,
) -> tuple[Kpi, ...]:
    before = days.previous()
    then_customers, then_new = previous_customers
    now_rows = [r for r in sales_rows if r.day in days]
    then_rows = [r for r in sales_rows if r.day in before]
    sales_trace = _sales_trace(days, channels)
    paid = _orders_trace(days, channels, "Paid orders")
    orders_now, orders_then = sum(r.orders for r in now_rows), sum(r.orders for r in then_rows)
    split = f"{customers.new:,} new · {customers.now - customers.new:,} returning"
    return (
        Kpi(
            "revenue", "Revenue", Kind.MONEY,
            sum((r.revenue for r in now_rows), _ZERO), sum((r.revenue for r in then_rows), _ZERO),
            sales_trace, "after refunds",
        ),
        Kpi("orders", "Orders", Kind.INTEGER, orders_now, orders_then, sales_trace, "paid orders"),
        Kpi("customers", "Customers", Kind.INTEGER, customers.now, then_customers, paid, split),
        Kpi(
            "aov", "Average order value", Kind.MONEY,
            _aov(sum((r.paid for r in now_rows), _ZERO), orders_now),
            _aov(sum((r.paid for r in then_rows), _ZERO), orders_then),
            paid, "before refunds",
        ),
        Kpi(
            "new_share", "New customers", Kind.PERCENT,
            _ratio(customers.new, customers.now), _ratio(then_new, then_customers),
            paid, split,
        ),
        Kpi(
            "inventory_value", "Inventory value", Kind.MONEY, inventory.value, None,
            inventory.trace, f"{inventory.items:,} items · {inventory.stock_units:,} units at cost",
        ),
        Kpi(
            "low_stock", "Low stock", Kind.INTEGER, inventory.low_stock, None,
            inventory.low_stock_trace, "at or below their reorder level", lower_is_better=True,
        ),
    )  # fmt: skip


# -- inventory and what sells -------------------------------------------------------------------


@dataclass(frozen=True)
class _Inventory:
    value: Decimal
    items: int
    stock_units: int
    low_stock: int
    out_of_stock: int
    by_category: Dataset
    trace: Trace
    low_stock_trace: Trace


def _inventory(session: Session) -> _Inventory:
    """Live items now: the category summary (the inventory service's own query) and its totals."""
    groups = group_summaries(session, "category")
    item = _ITEMS.c
    out_of_stock = session.scalar(
        select(func.count()).select_from(_ITEMS).where(item.archived_at.is_(None), item.stock == 0)
    )
    trace = Trace("inventory", {}, "Inventory (live items)")
    rows = tuple((g.name, g.items, g.units, _money(g.stock_value), g.low_stock) for g in groups)
    dataset = Dataset(
        "inventory_by_category",
        "Inventory value by category",
        (
            Column("category", "Category"),
            Column("items", "Items", Kind.INTEGER),
            Column("units", "Units", Kind.INTEGER),
            Column("value", "Value at cost", Kind.MONEY),
            Column("low_stock", "Low stock", Kind.INTEGER),
        ),
        rows,
        trace,
    )
    return _Inventory(
        value=sum((r[3] for r in rows), _ZERO),
        items=sum(g.items for g in groups),
        stock_units=sum(g.units for g in groups),
        low_stock=sum(g.low_stock for g in groups),
        out_of_stock=int(out_of_stock or 0),
        by_category=dataset,
        trace=trace,
        low_stock_trace=Trace("inventory", {"low_stock": True}, "Items at or below their reorder level"),
    )


@dataclass(frozen=True)
class _Selling:
    #: Units sold in the range, and in the cover window (its last `COVER_DAYS` days).
    units: int
    recent_units: int
    cover: DateRange
    top_sellers: Dataset


def _cover_window(days: DateRange) -> DateRange:
    return DateRange(max(days.start, days.end - dt.timedelta(days=COVER_DAYS - 1)), days.end)


def _days_of_cover(stock: int, units: int, window_days: int) -> Decimal | None:
    """Stock ÷ the average daily units sold over the window; None when nothing sold in it."""
    if units <= 0:
        return None
    return (Decimal(stock) * window_days / units).quantize(_TENTH, ROUND_HALF_UP)


def _selling(session: Session, days: DateRange, channels: Sequence[str]) -> _Selling:
    """Units and revenue per SKU of the orders paid in the range (before refunds: what left the
    shelf), the best sellers by revenue, and the totals over every SKU — from the daily per-item
    roll-up (`item_sales_daily`), not a join of the range's order lines to their orders."""
    item_day = _ITEM_SALES.c
    cover = _cover_window(days)
    units = func.sum(item_day.units)
    revenue = func.sum(item_day.revenue)
    recent = func.sum(case((item_day.date >= cover.start, item_day.units), else_=0))
    stmt = _where(
        select(
            item_day.sku,
            units,
            revenue,
            recent,
            func.sum(units).over(),
            func.sum(recent).over(),
        )
        .where(item_day.date.between(days.start, days.end))
        .group_by(item_day.sku)
        .order_by(revenue.desc(), item_day.sku)
        .limit(TOP_SELLERS),
        _in_channels(item_day.channel, channels),
    )
    best = session.execute(stmt).all()
    total_units = int(best[0][4]) if best else 0
    total_recent = int(best[0][5]) if best else 0
    skus = [row[0] for row in best]
    item = _ITEMS.c
    items = {
        sku: (name, stock)
        for sku, name, stock in session.execute(
            select(item.sku, item.name, item.stock).where(item.sku.in_(skus))
        )
    } if skus else {}  # fmt: skip
    rows = []
    for sku, sold, money, recent_sold, _all, _all_recent in best:
        name, stock = items.get(sku, ("", None))
        cover_days = None if stock is None else _days_of_cover(stock, int(recent_sold), cover.days)
        rows.append((sku, name, int(sold), _money(money), stock, cover_days))
    dataset = Dataset(
        "top_sellers",
        "Top sellers",
        (
            Column("sku", "SKU"),
            Column("name", "Item"),
            Column("units", "Units sold", Kind.INTEGER),
            Column("revenue", "Revenue", Kind.MONEY),
            Column("stock", "In stock", Kind.INTEGER),
            Column("days_of_cover", "Days of cover", Kind.DECIMAL),
        ),
        tuple(rows),
        Trace(
            "order_lines",
            {"paid_from": days.start, "paid_to": days.end, **_trace_channels(channels)},
            f"Order lines, {_range_text(days)}{_channels_text(channels)}",
        ),
    )
    return _Selling(total_units, total_recent, cover, dataset)


def _health(channels: Sequence[str], inventory: _Inventory, selling: _Selling) -> tuple[Kpi, ...]:
    cover = selling.cover
    rate = Decimal(selling.recent_units) / cover.days
    cover_note = (
        f"at {rate.quantize(_TENTH, ROUND_HALF_UP):,} units a day over the last {cover.days} days"
        if selling.recent_units
        else f"nothing sold in the last {cover.days} days"
    )
    return (
        Kpi(
            "stock_value", "Stock value", Kind.MONEY, inventory.value, None, inventory.trace,
            f"{inventory.stock_units:,} units at cost",
        ),
        Kpi(
            "days_of_cover", "Days of cover", Kind.DECIMAL,
            _days_of_cover(inventory.stock_units, selling.recent_units, cover.days), None,
            Trace(
                "order_lines",
                {"paid_from": cover.start, "paid_to": cover.end, **_trace_channels(channels)},
                f"Units sold, {_range_text(cover)}{_channels_text(channels)}",
            ),
            cover_note,
        ),
        Kpi(
            "sell_through", "Sell-through", Kind.PERCENT,
            _ratio(selling.units, selling.units + inventory.stock_units), None,
            selling.top_sellers.trace,
            f"{selling.units:,} sold · {inventory.stock_units:,} in stock",
        ),
        Kpi(
            "out_of_stock", "Out of stock", Kind.INTEGER, inventory.out_of_stock, None,
            Trace("inventory", {"out_of_stock": True}, "Items out of stock"),
            "live items with no stock", lower_is_better=True,
        ),
    )  # fmt: skip


# -- cohorts ----------------------------------------------------------------------------------------


def _cohort_start(days: DateRange) -> dt.date:
    """The first day a cohort customer may have first paid on: in the range, the last 12 months."""
    last_month = period_start(days.end, Granularity.MONTH)
    return max(days.start, add_months(last_month, -(COHORT_MONTHS - 1)))


def _cohort_counts(
    session: Session, days: DateRange, channels: Sequence[str]
) -> dict[tuple[dt.date, int], int]:
    """(first-order month, months later) → customers of that cohort who paid in that month.

    With a channel filter a cohort holds the customers first seen that month who paid in those
    channels that month, and only orders in those channels count as coming back."""
    o, c = _ORDERS_C, _CUSTOMERS_C
    first = _cohort_start(days)
    months = [period_start(first, Granularity.MONTH)]
    while (following := add_months(months[-1], 1)) <= days.end:
        months.append(following)
    # Months as indexes into `months` (every date here lies in [first, the range's end]).
    newcomers = (
        select(c.customer_id, _bucket(c.first_paid_date, months).label("cohort"))
        .where(c.first_paid_date.between(first, days.end))
        .subquery("newcomers")
    )
    month = _bucket(o.paid_date, months).label("month")
    # Each newcomer's months with a paid order: grouped, so each counts once per month.
    active = _where(
        select(o.customer_id.label("customer_id"), newcomers.c.cohort, month)
        .select_from(ORDERS.join(newcomers, newcomers.c.customer_id == o.customer_id))
        .where(o.paid_date.between(first, days.end))
        .group_by(o.customer_id, newcomers.c.cohort, month),
        _in_channels(o.channel, channels),
    ).cte("active")
    stmt = select(active.c.cohort, active.c.month, func.count()).group_by(active.c.cohort, active.c.month)
    if channels:  # members: those who paid in these channels in their first month
        members = select(active.c.customer_id).where(active.c.month == active.c.cohort)
        stmt = stmt.where(active.c.customer_id.in_(members))
    counts: dict[tuple[dt.date, int], int] = {}
    for cohort, active, customers in session.execute(stmt):
        counts[(months[int(cohort)], int(active) - int(cohort))] = int(customers)
    return counts


def _cohorts_dataset(
    days: DateRange, channels: Sequence[str], counts: Mapping[tuple[dt.date, int], int]
) -> Dataset:
    """Customers by the month of their first paid order (within the range, the latest twelve),
    and the share of each cohort that paid again N months later (up to the range's end)."""
    first = _cohort_start(days)
    rows = []
    start = period_start(first, Granularity.MONTH)
    while start <= days.end:
        size = counts.get((start, 0), 0)
        shares: list[Decimal | None] = []
        for n in range(1, RETENTION_MONTHS + 1):
            later = add_months(start, n)
            shares.append(None if later > days.end else _ratio(counts.get((start, n), 0), size))
        rows.append((start, size, *shares))
        start = add_months(start, 1)
    columns = (
        Column("cohort", "First order", Kind.DATE),
        Column("customers", "Customers", Kind.INTEGER),
        *(Column(f"m{n}", f"Month {n}", Kind.PERCENT) for n in range(1, RETENTION_MONTHS + 1)),
    )
    return Dataset(
        "cohorts",
        "Cohort retention",
        columns,
        tuple(rows),
        _orders_trace(DateRange(first, days.end), channels, "Paid orders"),
    )


# -- analytics events: sessions (conversion) and the others ------------------------------------


def _events_between(
    session: Session,
    periods: Periods,
    zone: zoneinfo.ZoneInfo,
    *conditions: ColumnElement[bool] | None,
    columns: Sequence[ColumnElement[Any]],
) -> Iterable[Any]:
    """Events recorded in the range's shop days (bounds turned into moments here, so the query is
    plain comparisons on any database)."""
    e = EVENTS.c
    days = periods.range
    stmt = select(e.recorded_at, *columns).where(
        e.recorded_at >= _moment(days.start, zone),
        e.recorded_at < _moment(days.end + dt.timedelta(days=1), zone),
    )
    return session.execute(_where(stmt, *conditions))


def _events_trace(periods: Periods, zone: zoneinfo.ZoneInfo, filters: Mapping[str, Any], title: str) -> Trace:
    days = periods.range
    bounds = {
        "recorded_from": _moment(days.start, zone),
        "recorded_before": _moment(days.end + dt.timedelta(days=1), zone),
    }
    return Trace("analytics_events", {**bounds, **filters}, f"{title}, {_range_text(days)}")


def _sessions(
    session: Session, periods: Periods, channels: Sequence[str], zone: zoneinfo.ZoneInfo
) -> list[int] | None:
    """Storefront sessions per period (`analytics_data` values, each on the shop day it was
    recorded); None when none were recorded in the range."""
    e = EVENTS.c
    sessions = [0] * len(periods.starts)
    found = False
    rows_in = _events_between(
        session, periods, zone, e.metric_type == SESSIONS,
        _in_channels(event_channel(), channels), columns=(e.value,),
    )  # fmt: skip
    for recorded_at, value in rows_in:
        found = True
        sessions[periods.index(shop_day(_aware(recorded_at), zone))] += int(Decimal(str(value)))
    return sessions if found else None


def _conversion_dataset(
    periods: Periods,
    channels: Sequence[str],
    zone: zoneinfo.ZoneInfo,
    sessions: Sequence[int] | None,
    sales: Dataset,
) -> Dataset:
    """Orders ÷ storefront sessions per period. Periods without sessions have no rate; a range
    without any, no rows."""
    rows: tuple[tuple[Any, ...], ...] = ()
    if sessions is not None:
        orders = sales.values("orders")
        rows = tuple(
            (start, sessions[i], orders[i], _ratio(orders[i], sessions[i], places=_CENT))
            for i, start in enumerate(periods.starts)
        )
    return Dataset(
        "conversion",
        "Conversion rate",
        (
            _period_column(),
            Column("sessions", "Sessions", Kind.INTEGER),
            Column("orders", "Orders", Kind.INTEGER),
            Column("rate", "Conversion", Kind.PERCENT),
        ),
        rows,
        _events_trace(
            periods, zone, {"metric_type": SESSIONS, **_trace_channels(channels)}, "Storefront sessions"
        ),
    )


def _event_counts(
    session: Session, periods: Periods, channels: Sequence[str], zone: zoneinfo.ZoneInfo
) -> dict[str, list[int]]:
    """How many events of each other type were recorded per period; with a channel filter, events
    naming another channel in their metadata are left out (those naming none stay)."""
    e = EVENTS.c
    channel = event_channel()
    by_channel = or_(channel.is_(None), channel.in_(channels)) if channels else None
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(periods.starts))
    found = _events_between(
        session, periods, zone, e.metric_type != SESSIONS, by_channel, columns=(e.metric_type,)
    )
    for recorded_at, metric_type in found:
        counts[metric_type][periods.index(shop_day(_aware(recorded_at), zone))] += 1
    return dict(counts)


def _events_dataset(
    periods: Periods, channels: Sequence[str], zone: zoneinfo.ZoneInfo, counts: Mapping[str, list[int]]
) -> Dataset:
    kinds = sorted(counts)
    return Dataset(
        "events",
        "Events",
        (
            _period_column(),
            *(Column(kind, kind.replace("_", " ").capitalize(), Kind.INTEGER) for kind in kinds),
        ),
        tuple((start, *(counts[kind][i] for kind in kinds)) for i, start in enumerate(periods.starts)),
        _events_trace(periods, zone, _trace_channels(channels), "Events"),
    )


# -- the service ----------------------------------------------------------------------------------


def event_problems(
    metric_type: str, value: Any, metadata: Mapping[str, Any] | None, recorded_at: dt.datetime | None
) -> dict[str, str]:
    """Every problem with an event to record, by field."""
    problems: dict[str, str] = {}
    if not isinstance(metric_type, str) or not METRIC_TYPE_RE.match(metric_type):
        problems["metric_type"] = (
            "Use a lower-case name of letters, digits and underscores, starting with a letter "
            "(at most 64), e.g. storefront_sessions."
        )
    number = _event_value(value)
    if number is None:
        problems["value"] = "Enter a finite number."
    elif abs(number) > MAX_EVENT_VALUE:
        problems["value"] = f"At most {MAX_EVENT_VALUE:,} either way."
    elif number != number.quantize(Decimal("0.0001"), ROUND_HALF_UP):
        problems["value"] = "At most four decimals."
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
            problems["metadata"] = "Metadata is a mapping of names to values."
        else:
            try:
                json.dumps(dict(metadata), allow_nan=False)
            except (TypeError, ValueError):
                problems["metadata"] = (
                    "Metadata must hold only text, numbers, true/false, lists and mappings."
                )
            else:
                channel = metadata.get("channel")
                if channel is not None and (not isinstance(channel, str) or not channel.strip()):
                    problems["metadata"] = "The channel is a name."
    if recorded_at is not None and (not isinstance(recorded_at, dt.datetime) or recorded_at.tzinfo is None):
        problems["recorded_at"] = "A moment needs its time zone."
    return problems


def _event_value(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


#: Connections the dashboard's reads are spread over on PostgreSQL by default (the passes are
#: independent; the server runs them side by side on its cores).
LANES: Final = 2
_SNAPSHOT_RE: Final = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")


def _export_snapshot(session: Session) -> str | None:
    """This transaction's view of the data, for other connections to read exactly the same rows;
    None where the server cannot share it (a standby)."""
    try:
        with session.begin_nested():
            snapshot = session.execute(text("SELECT pg_export_snapshot()")).scalar_one()
    except DBAPIError:
        return None
    return str(snapshot) if _SNAPSHOT_RE.match(str(snapshot)) else None


def snapshot_lanes(engine: Engine, snapshot: str, lanes: int) -> Runner:
    """A `Runner` that spreads the reads over `lanes` connections of their own, each in a
    read-only REPEATABLE READ transaction on `snapshot` (`SET TRANSACTION SNAPSHOT`): the reads
    see exactly the data the exporting transaction sees, as if they ran in it — one unit of
    work over several connections, each used by one thread only."""

    def run(reads: Mapping[str, Callable[[Session], Any]]) -> dict[str, Any]:
        pending: queue.SimpleQueue[tuple[str, Callable[[Session], Any]]] = queue.SimpleQueue()
        for item in reads.items():
            pending.put(item)
        results: dict[str, Any] = {}

        def lane() -> None:
            options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            with engine.connect().execution_options(**options) as conn:
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
                with Session(bind=conn) as session:
                    while True:
                        try:
                            name, read = pending.get_nowait()
                        except queue.Empty:
                            break
                        results[name] = read(session)
                conn.rollback()

        with ThreadPoolExecutor(lanes, thread_name_prefix="dashboard") as pool:
            for future in [pool.submit(lane) for _ in range(lanes)]:
                future.result()
        return results

    return run


class AnalyticsService:
    def __init__(self, ctx: ServiceContext, *, lanes: int = LANES) -> None:
        self.ctx = ctx
        #: Connections the dashboard's reads are spread over on PostgreSQL (1: the caller's only).
        self.lanes = lanes

    def dashboard(self, actor: Actor, query: DashboardQuery) -> Dashboard:
        """Every figure of the dashboard in one read-only unit of work (permission `analytics.read`).
        On PostgreSQL its independent passes run side by side on `lanes` connections that read
        the unit of work's own snapshot, so the figures agree with each other as if read at once."""
        with self.ctx.read(actor, "analytics.read") as uow:
            run = None
            if uow.session.get_bind().dialect.name == "postgresql":
                uow.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
                snapshot = _export_snapshot(uow.session) if self.lanes > 1 else None
                if snapshot is not None:
                    run = snapshot_lanes(self.ctx.engine, snapshot, self.lanes)
            return read_dashboard(uow.session, query, read_at=uow.now, run=run)

    def today(self, actor: Actor) -> dt.date:
        """The shop's today in its time zone (the presets count back from it)."""
        with self.ctx.read(actor, "analytics.read") as uow:
            return shop_day(uow.now, shop_settings(uow.session).zone)

    def record_event(
        self,
        actor: Actor,
        metric_type: str,
        value: Decimal | int,
        metadata: Mapping[str, Any] | None = None,
        recorded_at: dt.datetime | None = None,
    ) -> int:
        """Store one `analytics_data` event (permission `analytics.write`); returns its id.
        `storefront_sessions` with metadata {"channel": …} feeds the conversion rate."""
        with self.ctx.write(actor, "analytics.write") as uow:
            problems = event_problems(metric_type, value, metadata, recorded_at)
            if problems:
                raise ValidationError(problems)
            number = _event_value(value)
            assert number is not None
            moment = recorded_at or uow.now
            event = AnalyticsData(
                metric_type=metric_type,
                value=number,
                meta=dict(metadata or {}),
                recorded_at=moment,
                user_id=uow.actor.user_id if uow.actor else None,
            )
            uow.session.add(event)
            uow.session.flush()
            uow.audit(
                "analytics.event_recorded",
                "analytics_data",
                event.id,
                after={
                    "metric_type": metric_type,
                    "value": str(number),
                    "metadata": dict(metadata or {}),
                    "recorded_at": moment.isoformat(),
                },
            )
            return event.id
