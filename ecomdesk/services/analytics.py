"""Analytics: the dashboard's numbers, read from the order and metric tables in one unit of work.

Every figure comes with a `Trace` (the table and filters that select the rows it was computed
from), so a card's number can be opened as a grid and checked. The queries use only portable SQL
(plain dates, no time zone arithmetic, month and week starts through `services.sql_dates`), so
they run unchanged on the offline snapshot (SQLite); tests run them on both.

Percentages (`Kind.PERCENT`) are percent points: 25.0 means a quarter.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.tables import Column, Kind


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

    @classmethod
    def preset(cls, preset: Preset, today: dt.date) -> DateRange:
        """The range a preset means on `today` (the shop's today), `today` included.
        `Preset.CUSTOM` has no range of its own: ValueError."""
        raise NotImplementedError


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


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows for one query. Dataset column keys (the UI relies on them):

    - `sales`: period (DATE, the bucket's first day), revenue (MONEY), orders (INTEGER)
    - `by_channel`: period, then one MONEY column per channel shown, keyed by the channel name
    - `customers`: period, new (INTEGER), returning (INTEGER)
    - `aov`: period, aov (MONEY)
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


class AnalyticsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def dashboard(self, actor: Actor, query: DashboardQuery) -> Dashboard:
        """Every figure of the dashboard in one read-only unit of work (permission `analytics.read`)."""
        raise NotImplementedError

    def today(self, actor: Actor) -> dt.date:
        """The shop's today in its time zone (the presets count back from it)."""
        raise NotImplementedError

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
        raise NotImplementedError
