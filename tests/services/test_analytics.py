"""The dashboard's figures against small hand-made shops whose numbers can be worked out on paper:
KPIs and the previous period, periods at each granularity (clipped at both ends), the channel
filter, new and returning customers, cohorts, segments, conversion, inventory health, each card's
trace adding up to its figure, every dataset the same on PostgreSQL and SQLite, presets, and who may
read and record.

Orders are inserted with Core (their shop days given, as ingestion stores them), then
`metrics.rebuild` derives customers and the daily tables exactly as ingestion does.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from ecomdesk.db import metrics
from ecomdesk.db.engine import make_engine
from ecomdesk.db.metrics import add_months
from ecomdesk.db.models import AnalyticsData, InventoryItem, OrderEvent, OrderLine, metadata
from ecomdesk.services.analytics import (
    SEGMENTS,
    AnalyticsService,
    Dashboard,
    DashboardQuery,
    Dataset,
    DateRange,
    Granularity,
    Periods,
    Preset,
    read_dashboard,
    snapshot_lanes,
)
from ecomdesk.services.errors import PermissionDenied, ValidationError
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.tables import Column, Kind
from tests.services.conftest import FakeClock, MakeUser, Staff, audit_entries, row_count

D = dt.date
DAY, WEEK, MONTH = Granularity.DAY, Granularity.WEEK, Granularity.MONTH


def money(text: str) -> Decimal:
    return Decimal(text)


# -- building shops -------------------------------------------------------------------------------


@dataclass
class Shop:
    """Rows to insert: orders (with their lines), items and analytics events."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def order(
        self,
        order_id: str,
        customer: str,
        channel: str,
        amount: str,
        paid: dt.date | None,
        *,
        status: str | None = None,
        refund: tuple[str, dt.date] | None = None,
        lines: Sequence[tuple[str, int, str]] = (),
    ) -> None:
        placed = dt.datetime.combine(paid or D(2026, 3, 1), dt.time(11), tzinfo=dt.UTC)
        row: dict[str, Any] = {
            "order_id": order_id,
            "customer_id": customer,
            "channel": channel,
            "currency": "EUR",
            "status": status or ("paid" if paid else "pending"),
            "amount": Decimal(amount),
            "occurred_at": placed,
            "paid_date": paid,
            "refund_amount": None,
            "refunded_at": None,
            "refund_date": None,
            "metadata": {},
        }
        if refund is not None:
            refund_day = refund[1]
            row.update(
                status="refunded",
                refund_amount=Decimal(refund[0]),
                refunded_at=dt.datetime.combine(refund_day, dt.time(11), tzinfo=dt.UTC),
                refund_date=refund_day,
            )
        self.orders.append(row)
        for n, (sku, quantity, price) in enumerate(lines, 1):
            self.lines.append(
                {
                    "order_id": order_id,
                    "line_no": n,
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price": Decimal(price),
                }
            )

    def item(
        self, sku: str, category: str, stock: int, cost: str, *, reserved: int = 0, archived: bool = False
    ) -> None:
        self.items.append(
            {
                "sku": sku,
                "name": sku.capitalize(),
                "category": category,
                "supplier": "Acme",
                "stock": stock,
                "reserved": reserved,
                "price": Decimal(cost) * 3,
                "cost": Decimal(cost),
                "archived_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) if archived else None,
            }
        )

    def event(self, metric_type: str, at: dt.datetime, value: int = 1, **meta: Any) -> None:
        self.events.append(
            {"metric_type": metric_type, "value": Decimal(value), "metadata": meta, "recorded_at": at}
        )

    def __add__(self, other: Shop) -> Shop:
        return Shop(
            self.orders + other.orders,
            self.lines + other.lines,
            self.items + other.items,
            self.events + other.events,
        )

    def load(self, engine: Engine) -> None:
        with engine.begin() as conn:
            for model, rows in (
                (OrderEvent, self.orders),
                (OrderLine, self.lines),
                (InventoryItem, self.items),
                (AnalyticsData, self.events),
            ):
                if rows:
                    conn.execute(insert(metadata.tables[model.__tablename__]), rows)
            metrics.rebuild(conn)


# The main shop: four customers around a 30-day range, Wednesday 4 March – Thursday 2 April 2026
# (previous period: 2 February – 3 March). Worked out by hand:
#
#   range    paid: alice 60 web (4 Mar, returning: first paid 10 Feb), bob 25 web (5 Mar, new),
#                  carol 50 app + 20 web (16 Mar, new), dave 45 app (20 Mar, returning: first 15 Jan),
#                  alice 30 app (31 Mar), bob 35 web (2 Apr, returning: first 5 Mar)
#            refunds: frank 30 web (6 Mar, for a February order), bob 10 web (9 Mar)
#            → orders 7, amounts 265.00, revenue 265 - 40 = 225.00, AOV 265/7 = 37.86,
#              customers 4 (bob and carol new: 50.0 %)
#   previous paid: alice 40 web (10 Feb, new), dave 15 app (20 Feb), frank 30 web (25 Feb, new)
#            → revenue 85.00, orders 3, customers 3, new 2 (66.7 %), AOV 28.33
#   nowhere: erin's pending and cancelled orders, gina's order the day after the range.
RANGE = DateRange(D(2026, 3, 4), D(2026, 4, 2))


def main_shop() -> Shop:
    shop = Shop()
    shop.order("D-1", "dave", "web", "80.00", D(2026, 1, 15))
    shop.order("A-1", "alice", "web", "40.00", D(2026, 2, 10))
    shop.order("D-2", "dave", "app", "15.00", D(2026, 2, 20))
    shop.order("F-1", "frank", "web", "30.00", D(2026, 2, 25), refund=("30.00", D(2026, 3, 6)))
    shop.order("A-2", "alice", "web", "60.00", D(2026, 3, 4))
    shop.order("B-1", "bob", "web", "25.00", D(2026, 3, 5), refund=("10.00", D(2026, 3, 9)))
    shop.order("E-1", "erin", "web", "99.00", None)
    shop.order("E-2", "erin", "app", "12.00", None, status="cancelled")
    shop.order("C-1", "carol", "app", "50.00", D(2026, 3, 16))
    shop.order("C-2", "carol", "web", "20.00", D(2026, 3, 16))
    shop.order("D-3", "dave", "app", "45.00", D(2026, 3, 20))
    shop.order("A-3", "alice", "app", "30.00", D(2026, 3, 31))
    shop.order("B-2", "bob", "web", "35.00", D(2026, 4, 2))
    shop.order("G-1", "gina", "web", "70.00", D(2026, 4, 3))
    return shop


# Cohorts: three customers, first quarter of 2026 (x and y first pay in January, z in February).
def cohort_shop() -> Shop:
    shop = Shop()
    shop.order("X-1", "x", "web", "10.00", D(2026, 1, 10))
    shop.order("X-2", "x", "app", "10.00", D(2026, 2, 5))
    shop.order("X-3", "x", "web", "10.00", D(2026, 3, 20))
    shop.order("Y-1", "y", "app", "10.00", D(2026, 1, 20))
    shop.order("Y-2", "y", "app", "10.00", D(2026, 3, 2))
    shop.order("Z-1", "z", "web", "10.00", D(2026, 2, 14))
    shop.order("Z-2", "z", "web", "10.00", D(2026, 2, 28))
    shop.order("Z-3", "z", "app", "10.00", D(2026, 3, 1))
    return shop


# Segments, as of 30 June 2026 (the 12 months: 1 July 2025 – 30 June 2026; "within 30 days" = from
# 1 June). Spend: 300, 30, 80, 50, 50, 40, 60 → average 610 / 7 = 87.14.
SEGMENT_END = D(2026, 6, 30)


def segment_shop() -> Shop:
    shop = Shop()
    for n, day in enumerate((D(2026, 2, 1), D(2026, 5, 1), D(2026, 6, 20))):  # champion: 3 orders, 300
        shop.order(f"S1-{n}", "s1", "web", "100.00", day)
    for n, day in enumerate((D(2026, 1, 5), D(2026, 6, 10), D(2026, 6, 25))):  # loyal: recent, spends little
        shop.order(f"S2-{n}", "s2", "web", "10.00", day)
    for n, day in enumerate((D(2025, 12, 1), D(2026, 1, 1), D(2026, 3, 1), D(2026, 4, 15))):  # loyal
        shop.order(f"S3-{n}", "s3", "web", "20.00", day)
    shop.order("S4-0", "s4", "web", "50.00", D(2026, 6, 1))  # promising: exactly 30 days
    shop.order("S5-0", "s5", "web", "25.00", D(2026, 3, 1))  # needs attention: 31 days
    shop.order("S5-1", "s5", "web", "25.00", D(2026, 5, 31))
    shop.order("S6-0", "s6", "web", "40.00", D(2026, 2, 1))  # at risk
    shop.order("S7-0", "s7", "web", "60.00", D(2025, 9, 1))  # hibernating
    shop.order("S8-0", "s8", "web", "70.00", D(2025, 6, 30))  # before the 12 months: no segment
    shop.order("S9-0", "s9", "web", "70.00", D(2026, 7, 1))  # after the end: no segment
    return shop


# Selling and stock, range 1 March – 29 April 2026 (60 days; days of cover over 31 March – 29 April).
SELL_RANGE = DateRange(D(2026, 3, 1), D(2026, 4, 29))


def selling_shop() -> Shop:
    shop = Shop()
    shop.item("MUG", "Home", 12, "2.00", reserved=3)  # available 9: low (default threshold 10)
    shop.item("CUP", "Home", 0, "1.50")  # out of stock, low
    shop.item("PEN", "Office", 100, "0.50")
    shop.item("OLD", "Office", 7, "9.00", archived=True)  # archived: counts nowhere
    shop.order("L-1", "l1", "web", "30.00", D(2026, 3, 5), lines=[("MUG", 4, "5.00"), ("PEN", 10, "1.00")])
    shop.order("L-2", "l2", "app", "13.00", D(2026, 4, 10), lines=[("MUG", 2, "5.00"), ("CUP", 1, "3.00")])
    shop.order("L-3", "l3", "web", "5.00", D(2026, 4, 20), lines=[("PEN", 5, "1.00")])
    shop.order("L-4", "l4", "web", "250.00", D(2026, 4, 30), lines=[("MUG", 50, "5.00")])  # after the range
    shop.order("L-5", "l5", "web", "45.00", None, lines=[("MUG", 9, "5.00")])  # pending
    return shop


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


# Sessions and events around 4-5 March 2026 in Berlin (UTC+1): 23:30 UTC is already tomorrow there.
def event_shop() -> Shop:
    shop = Shop()
    shop.event("storefront_sessions", utc(2026, 3, 3, 23, 30), 10, channel="web")  # 4 March in Berlin
    shop.event("storefront_sessions", utc(2026, 3, 4, 12), 40, channel="web")
    shop.event("storefront_sessions", utc(2026, 3, 4, 23, 30), 25, channel="app")  # 5 March in Berlin
    shop.event("storefront_sessions", utc(2026, 3, 3, 22, 30), 999, channel="web")  # 3 March: outside
    shop.event("page_view", utc(2026, 3, 4, 9), channel="web", path="/")
    shop.event("page_view", utc(2026, 3, 5, 9), channel="app", path="/")
    shop.event("signup", utc(2026, 3, 5, 10), source="checkout")
    return shop


def everything() -> Shop:
    return main_shop() + cohort_shop() + segment_shop() + selling_shop() + event_shop()


# -- databases ------------------------------------------------------------------------------------


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty shop database on PostgreSQL (migrated) or SQLite (the snapshot's `create_all`)."""
    if request.param == "postgresql":
        yield request.getfixturevalue("engine")
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'snapshot.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def read(
    engine: Engine, days: DateRange, granularity: Granularity = DAY, channels: tuple[str, ...] = ()
) -> Dashboard:
    with Session(engine) as session:
        return read_dashboard(session, DashboardQuery(days, granularity, channels))


def kpis(board: Dashboard) -> dict[str, tuple[Any, Any]]:
    return {kpi.key: (kpi.value, kpi.previous) for kpi in (*board.kpis, *board.health)}


def rows_of(dataset: Dataset, *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[[c.key for c in dataset.columns].index(k)] for k in keys) for row in dataset.rows]


def nonzero(dataset: Dataset, *keys: str) -> list[tuple[Any, ...]]:
    """The rows of `dataset` in `keys` where any value but the first is set and not zero."""
    return [row for row in rows_of(dataset, *keys) if any(v for v in row[1:])]


# -- presets and periods ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "today", "start"),
    [
        (Preset.LAST_7_DAYS, D(2026, 11, 27), D(2026, 11, 21)),
        (Preset.LAST_30_DAYS, D(2026, 11, 27), D(2026, 10, 29)),
        (Preset.LAST_90_DAYS, D(2026, 11, 27), D(2026, 8, 30)),
        (Preset.YEAR_TO_DATE, D(2026, 11, 27), D(2026, 1, 1)),
        (Preset.YEAR_TO_DATE, D(2026, 1, 1), D(2026, 1, 1)),
        (Preset.LAST_12_MONTHS, D(2026, 11, 27), D(2025, 11, 28)),
        (Preset.LAST_12_MONTHS, D(2024, 2, 29), D(2023, 3, 1)),
        (Preset.LAST_12_MONTHS, D(2025, 3, 1), D(2024, 3, 2)),
    ],
)
def test_presets_end_today_and_count_back_whole_days(preset: Preset, today: dt.date, start: dt.date) -> None:
    days = DateRange.preset(preset, today)
    assert (days.start, days.end) == (start, today)


def test_preset_lengths_are_the_days_they_name() -> None:
    today = D(2026, 11, 27)
    assert [
        DateRange.preset(p, today).days
        for p in (Preset.LAST_7_DAYS, Preset.LAST_30_DAYS, Preset.LAST_90_DAYS)
    ] == [
        7,
        30,
        90,
    ]
    assert DateRange.preset(Preset.LAST_12_MONTHS, today).days == 365
    assert DateRange.preset(Preset.LAST_12_MONTHS, D(2024, 12, 31)).days == 366  # holds 29 Feb 2024


def test_custom_preset_has_no_range_of_its_own() -> None:
    with pytest.raises(ValueError, match="Custom"):
        DateRange.preset(Preset.CUSTOM, D(2026, 11, 27))


def test_previous_period_has_equal_length_and_ends_the_day_before() -> None:
    assert RANGE.previous() == DateRange(D(2026, 2, 2), D(2026, 3, 3))


def test_periods_are_every_day_week_or_month_touched_clipped_to_the_range() -> None:
    assert len(Periods(RANGE, DAY).starts) == 30
    # 4 March is a Wednesday: its week starts on Monday 2 March, clipped to the 4th.
    assert Periods(RANGE, WEEK).starts == (
        D(2026, 3, 4),
        D(2026, 3, 9),
        D(2026, 3, 16),
        D(2026, 3, 23),
        D(2026, 3, 30),
    )
    assert Periods(RANGE, MONTH).starts == (D(2026, 3, 4), D(2026, 4, 1))
    assert Periods(DateRange(D(2026, 3, 1), D(2026, 3, 1)), MONTH).starts == (D(2026, 3, 1),)


# -- the KPIs -------------------------------------------------------------------------------------


def test_kpis_and_their_previous_period(db: Engine) -> None:
    main_shop().load(db)
    figures = kpis(read(db, RANGE))
    assert figures["revenue"] == (money("225.00"), money("85.00"))
    assert figures["orders"] == (7, 3)
    assert figures["customers"] == (4, 3)
    assert figures["aov"] == (money("37.86"), money("28.33"))
    assert figures["new_share"] == (money("50.0"), money("66.7"))
    board = read(db, RANGE)
    assert board.kpi("customers").note == "2 new · 2 returning"
    assert board.channels == ("app", "web")
    assert (board.currency, board.timezone) == ("EUR", "Europe/Berlin")


def test_kpi_change_is_relative_to_the_previous_period(db: Engine) -> None:
    main_shop().load(db)
    board = read(db, RANGE)
    # (225 - 85) / 85 = 164.7 %
    change = board.kpi("revenue").change
    assert change is not None and round(change, 1) == Decimal("164.7")
    # Stock is "now": no comparison.
    assert board.kpi("inventory_value").previous is None and board.kpi("inventory_value").change is None


def test_a_range_without_orders_has_zero_revenue_and_no_average(db: Engine) -> None:
    main_shop().load(db)
    figures = kpis(read(db, DateRange(D(2025, 6, 1), D(2025, 6, 30))))
    assert figures["revenue"] == (money("0.00"), money("0.00"))
    assert figures["orders"] == (0, 0)
    assert figures["aov"] == (None, None)
    assert figures["new_share"] == (None, None)


# -- periods --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [
        (
            WEEK,
            [
                (D(2026, 3, 4), money("55.00"), 2, 1, 1, money("42.50")),  # 60 + 25 - 30 refund
                (D(2026, 3, 9), money("-10.00"), 0, 0, 0, None),  # only bob's refund
                (D(2026, 3, 16), money("115.00"), 3, 1, 1, money("38.33")),
                (D(2026, 3, 23), money("0.00"), 0, 0, 0, None),
                (D(2026, 3, 30), money("65.00"), 2, 0, 2, money("32.50")),  # bob's first day was 5 March
            ],
        ),
        (
            MONTH,
            [
                (D(2026, 3, 4), money("190.00"), 6, 2, 2, money("38.33")),
                (D(2026, 4, 1), money("35.00"), 1, 0, 1, money("35.00")),
            ],
        ),
    ],
)
def test_weeks_and_months_hold_every_period_clipped_to_the_range(
    db: Engine, granularity: Granularity, expected: list[tuple[Any, ...]]
) -> None:
    main_shop().load(db)
    board = read(db, RANGE, granularity)
    found = [
        (s[0], s[1], s[2], c[1], c[2], a[1])
        for s, c, a in zip(
            rows_of(board.sales, "period", "revenue", "orders"),
            rows_of(board.customers, "period", "new", "returning"),
            rows_of(board.aov, "period", "aov"),
            strict=True,
        )
    ]
    assert found == expected


def test_days_hold_every_day_with_zeros_where_nothing_sold(db: Engine) -> None:
    main_shop().load(db)
    board = read(db, RANGE, DAY)
    assert board.sales.values("period") == [RANGE.start + dt.timedelta(days=n) for n in range(30)]
    assert nonzero(board.sales, "period", "revenue", "orders") == [
        (D(2026, 3, 4), money("60.00"), 1),
        (D(2026, 3, 5), money("25.00"), 1),
        (D(2026, 3, 6), money("-30.00"), 0),
        (D(2026, 3, 9), money("-10.00"), 0),
        (D(2026, 3, 16), money("70.00"), 2),
        (D(2026, 3, 20), money("45.00"), 1),
        (D(2026, 3, 31), money("30.00"), 1),
        (D(2026, 4, 2), money("35.00"), 1),
    ]
    assert sum(board.sales.values("revenue")) == kpis(board)["revenue"][0]


def test_revenue_by_channel_splits_each_period(db: Engine) -> None:
    main_shop().load(db)
    board = read(db, RANGE, MONTH)
    assert [c.key for c in board.by_channel.columns] == ["period", "app", "web"]
    assert board.by_channel.rows == (
        (D(2026, 3, 4), money("125.00"), money("65.00")),  # web: 60 + 25 + 20 - 30 - 10
        (D(2026, 4, 1), money("0.00"), money("35.00")),
    )


# -- the channel filter ---------------------------------------------------------------------------


def test_channel_filter_applies_to_every_sales_figure(db: Engine) -> None:
    main_shop().load(db)
    board = read(db, RANGE, DAY, ("app",))
    figures = kpis(board)
    assert figures["revenue"] == (money("125.00"), money("15.00"))
    assert figures["orders"] == (3, 1)
    assert figures["customers"] == (3, 1)
    assert figures["aov"] == (money("41.67"), money("15.00"))
    # carol first paid on 16 March (in app and web): new; alice and dave had paid before.
    assert figures["new_share"] == (money("33.3"), money("0.0"))
    assert [c.key for c in board.by_channel.columns] == ["period", "app"]
    assert nonzero(board.customers, "period", "new", "returning") == [
        (D(2026, 3, 16), 1, 0),
        (D(2026, 3, 20), 0, 1),
        (D(2026, 3, 31), 0, 1),
    ]


@pytest.mark.parametrize(
    ("granularity", "days", "last_bucket"),
    [
        # The last week, 30 March – 2 April, in the app: alice (31 March), first paid 10 February.
        (WEEK, RANGE, (D(2026, 3, 30), 0, 1)),
        # One clipped month, 4 – 31 March, in the app: carol new; dave and alice paid before it.
        (MONTH, DateRange(D(2026, 3, 4), D(2026, 3, 31)), (D(2026, 3, 4), 1, 2)),
    ],
)
def test_with_a_channel_filter_a_customer_first_seen_before_the_range_returns_in_the_last_bucket(
    db: Engine, granularity: Granularity, days: DateRange, last_bucket: tuple[Any, ...]
) -> None:
    # Regression: such a customer has no first day in the range to match; the unmatched (NULL) first
    # day fell through every comparison of the bucket tree into the last bucket and counted as new.
    main_shop().load(db)
    board = read(db, days, granularity, ("app",))
    assert rows_of(board.customers, "period", "new", "returning")[-1] == last_bucket


def test_every_channel_selected_reads_as_no_filter(db: Engine) -> None:
    main_shop().load(db)
    for granularity in Granularity:
        unfiltered = read(db, RANGE, granularity)
        everything_chosen = read(db, RANGE, granularity, ("app", "web"))
        assert kpis(unfiltered) == kpis(everything_chosen)
        for a, b in zip(unfiltered.datasets(), everything_chosen.datasets(), strict=True):
            assert a.rows == b.rows, a.key


def test_without_a_filter_daily_customers_and_aov_agree_with_customer_metrics(db: Engine) -> None:
    everything().load(db)
    days = DateRange(D(2025, 6, 1), D(2026, 7, 31))
    board = read(db, days, DAY)
    table = metadata.tables["customer_metrics"].c
    with db.connect() as conn:
        stored = {
            r.date: (r.new_customers, r.returning_customers, r.average_order_value)
            for r in conn.execute(
                select(table.date, table.new_customers, table.returning_customers, table.average_order_value)
            )
        }
    assert len(stored) > 30
    charted = {
        period: (new, returning, aov)
        for (period, new, returning), (_p, aov) in zip(
            rows_of(board.customers, "period", "new", "returning"),
            rows_of(board.aov, "period", "aov"),
            strict=True,
        )
        if new or returning
    }
    assert charted == stored


# -- cohorts --------------------------------------------------------------------------------------


def cohort_rows(board: Dashboard) -> list[tuple[Any, ...]]:
    return [row[:5] for row in board.cohorts.rows]


def test_cohorts_share_of_each_first_month_that_came_back(db: Engine) -> None:
    cohort_shop().load(db)
    board = read(db, DateRange(D(2026, 1, 1), D(2026, 3, 31)), MONTH)
    P = Decimal
    # January: x and y. February: x came back (50 %); March: x and y (100 %). February: z, back in March.
    assert cohort_rows(board) == [
        (D(2026, 1, 1), 2, P("50.0"), P("100.0"), None),
        (D(2026, 2, 1), 1, P("100.0"), None, None),
        (D(2026, 3, 1), 0, None, None, None),
    ]
    assert all(share is None for row in board.cohorts.rows for share in row[5:])


def test_cohorts_count_only_customers_first_seen_within_the_range(db: Engine) -> None:
    cohort_shop().load(db)
    # From 15 January: x (first paid on the 10th) is no one's cohort; y alone is January's.
    board = read(db, DateRange(D(2026, 1, 15), D(2026, 3, 31)), MONTH)
    assert cohort_rows(board)[0] == (D(2026, 1, 1), 1, Decimal("0.0"), Decimal("100.0"), None)


def test_cohorts_with_a_channel_filter_follow_that_channel(db: Engine) -> None:
    cohort_shop().load(db)
    board = read(db, DateRange(D(2026, 1, 1), D(2026, 3, 31)), MONTH, ("app",))
    # January in app: y only (x paid on the web). February: z paid only on the web then: nobody.
    assert cohort_rows(board) == [
        (D(2026, 1, 1), 1, Decimal("0.0"), Decimal("100.0"), None),
        (D(2026, 2, 1), 0, None, None, None),
        (D(2026, 3, 1), 0, None, None, None),
    ]


def test_cohorts_are_at_most_the_last_twelve_months(db: Engine) -> None:
    cohort_shop().load(db)
    board = read(db, DateRange(D(2024, 1, 1), D(2026, 3, 31)), MONTH)
    # The range ends in March 2026: the twelve months from April 2025.
    assert board.cohorts.values("cohort") == [add_months(D(2025, 4, 1), n) for n in range(12)]
    assert len(board.cohorts.rows) == 12


# -- segments -------------------------------------------------------------------------------------


def test_segments_sort_every_customer_of_the_twelve_months_into_one(db: Engine) -> None:
    segment_shop().load(db)
    board = read(db, DateRange(D(2026, 6, 1), SEGMENT_END))
    P = Decimal
    assert rows_of(board.segments, "segment", "customers", "revenue", "revenue_share") == [
        ("Champions", 1, P("300.00"), P("49.2")),
        ("Loyal", 2, P("110.00"), P("18.0")),
        ("Promising", 1, P("50.00"), P("8.2")),
        ("Needs attention", 1, P("50.00"), P("8.2")),
        ("At risk", 1, P("40.00"), P("6.6")),
        ("Hibernating", 1, P("60.00"), P("9.8")),
    ]
    assert board.segments.values("rule") == [s.rule for s in SEGMENTS]


def test_segments_follow_the_channel_filter(db: Engine) -> None:
    segment_shop().load(db)
    board = read(db, DateRange(D(2026, 6, 1), SEGMENT_END), DAY, ("app",))
    assert sum(board.segments.values("customers")) == 0


# -- conversion and events ----------------------------------------------------------------------


def test_conversion_counts_sessions_on_the_shop_day_they_were_recorded(db: Engine) -> None:
    (main_shop() + event_shop()).load(db)
    days = DateRange(D(2026, 3, 4), D(2026, 3, 5))
    board = read(db, days)
    assert board.conversion.rows == (
        (D(2026, 3, 4), 50, 1, Decimal("2.00")),
        (D(2026, 3, 5), 25, 1, Decimal("4.00")),
    )
    web = read(db, days, DAY, ("web",))
    assert web.conversion.rows == ((D(2026, 3, 4), 50, 1, Decimal("2.00")), (D(2026, 3, 5), 0, 1, None))


def test_conversion_has_no_rows_without_sessions(db: Engine) -> None:
    (main_shop() + event_shop()).load(db)
    assert read(db, DateRange(D(2026, 3, 10), D(2026, 3, 20))).conversion.rows == ()


def test_events_are_counted_per_period_by_type(db: Engine) -> None:
    event_shop().load(db)
    days = DateRange(D(2026, 3, 4), D(2026, 3, 5))
    board = read(db, days)
    assert [c.key for c in board.events.columns] == ["period", "page_view", "signup"]
    assert board.events.rows == ((D(2026, 3, 4), 1, 0), (D(2026, 3, 5), 1, 1))
    # The app page view names another channel; the sign-up names none and stays.
    assert read(db, days, DAY, ("web",)).events.rows == ((D(2026, 3, 4), 1, 0), (D(2026, 3, 5), 0, 1))


# -- inventory health and top sellers -----------------------------------------------------------


def test_inventory_health_and_top_sellers(db: Engine) -> None:
    selling_shop().load(db)
    board = read(db, SELL_RANGE)
    figures = kpis(board)
    # Live stock: MUG 12 × 2.00 + CUP 0 + PEN 100 × 0.50 = 74.00, 112 units.
    assert figures["inventory_value"] == (money("74.00"), None)
    assert figures["stock_value"] == (money("74.00"), None)
    assert figures["low_stock"] == (2, None)  # MUG (9 available) and CUP
    assert figures["out_of_stock"] == (1, None)
    # Sold in the range: 6 + 15 + 1 = 22 units; over its last 30 days 2 + 1 + 5 = 8.
    assert figures["sell_through"] == (Decimal("16.4"), None)  # 22 / (22 + 112)
    assert figures["days_of_cover"] == (Decimal("420.0"), None)  # 112 ÷ (8 / 30)
    assert board.top_sellers.rows == (
        ("MUG", "Mug", 6, money("30.00"), 12, Decimal("180.0")),
        ("PEN", "Pen", 15, money("15.00"), 100, Decimal("600.0")),
        ("CUP", "Cup", 1, money("3.00"), 0, Decimal("0.0")),
    )
    assert board.inventory_by_category.rows == (
        ("Office", 1, 100, money("50.00"), 0),
        ("Home", 2, 12, money("24.00"), 2),
    )
    assert board.kpi("low_stock").lower_is_better and board.kpi("out_of_stock").lower_is_better


def test_top_sellers_follow_the_channel_and_an_item_without_recent_sales_has_no_cover(db: Engine) -> None:
    selling_shop().load(db)
    board = read(db, SELL_RANGE, DAY, ("web",))
    assert board.top_sellers.rows == (
        ("MUG", "Mug", 4, money("20.00"), 12, None),  # sold on 5 March only: not in the last 30 days
        ("PEN", "Pen", 15, money("15.00"), 100, Decimal("600.0")),
    )


# -- traces ---------------------------------------------------------------------------------------


def trace_rows(services: Services, staff: Staff, board: Dashboard, key: str) -> list[Any]:
    trace = board.kpi(key).trace
    assert trace is not None, key
    page = services.tables[trace.table].page(staff.viewer, ListQuery(filters=trace.filters, limit=5000))
    assert page.total == len(page.rows)
    return page.rows


@pytest.mark.parametrize("channels", [(), ("app",)])
def test_each_cards_trace_reproduces_its_figure(
    services: Services, staff: Staff, engine: Engine, channels: tuple[str, ...]
) -> None:
    (main_shop() + selling_shop()).load(engine)
    days = DateRange(D(2026, 3, 4), D(2026, 4, 29))
    board = services.analytics.dashboard(staff.viewer, DashboardQuery(days, WEEK, channels))

    def rows(key: str) -> list[Any]:
        return trace_rows(services, staff, board, key)

    def value(key: str) -> Any:
        return board.kpi(key).value

    assert sum(r.revenue for r in rows("revenue")) == value("revenue")
    assert sum(r.orders for r in rows("orders")) == value("orders")
    paid = rows("customers")
    assert len({r.customer_id for r in paid}) == value("customers")
    assert (sum(r.amount for r in rows("aov")) / len(rows("aov"))).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    ) == value("aov")
    new = {r.customer_id for r in rows("new_share") if r.customer_since >= days.start}
    share = Decimal(len(new) * 100) / len({r.customer_id for r in rows("new_share")})
    assert share.quantize(Decimal("0.1"), ROUND_HALF_UP) == value("new_share")
    assert sum(r.stock_value for r in rows("inventory_value")) == value("inventory_value")
    assert sum(r.stock_value for r in rows("stock_value")) == value("stock_value")
    assert len(rows("low_stock")) == value("low_stock") and all(r.low_stock for r in rows("low_stock"))
    assert [r.sku for r in rows("out_of_stock")] == ["CUP"] and value("out_of_stock") == 1
    stock = sum(r.stock for r in rows("inventory_value"))
    sold_recently = sum(r.quantity for r in rows("days_of_cover"))
    cover = board.kpi("days_of_cover").trace
    assert cover is not None
    window = (cover.filters["paid_to"] - cover.filters["paid_from"]).days + 1
    assert (Decimal(stock * window) / sold_recently).quantize(Decimal("0.1")) == value("days_of_cover")
    sold = sum(r.quantity for r in rows("sell_through"))
    assert (Decimal(sold * 100) / (sold + stock)).quantize(Decimal("0.1"), ROUND_HALF_UP) == value(
        "sell_through"
    )


def test_each_dataset_trace_holds_the_rows_it_sums(services: Services, staff: Staff, engine: Engine) -> None:
    main_shop().load(engine)
    board = services.analytics.dashboard(staff.viewer, DashboardQuery(RANGE, MONTH))
    assert board.sales.trace is not None
    page = services.tables[board.sales.trace.table].page(
        staff.viewer, ListQuery(filters=board.sales.trace.filters)
    )
    assert sum(r.revenue for r in page.rows) == sum(board.sales.values("revenue"))
    assert board.customers.trace is not None
    orders = (
        services.tables["orders"].page(staff.viewer, ListQuery(filters=board.customers.trace.filters)).rows
    )
    assert len(orders) == sum(board.sales.values("orders"))


# -- PostgreSQL and SQLite --------------------------------------------------------------------------


def _comparable(board: Dashboard) -> Dashboard:
    return replace(board, read_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("granularity", list(Granularity))
@pytest.mark.parametrize("channels", [(), ("web",), ("app", "web")])
def test_every_figure_is_the_same_on_postgresql_and_sqlite(
    engine: Engine, tmp_path: Path, granularity: Granularity, channels: tuple[str, ...]
) -> None:
    snapshot = make_engine(f"sqlite:///{tmp_path / 'snapshot.db'}")
    metadata.create_all(snapshot)
    try:
        for target in (engine, snapshot):
            everything().load(target)
        for days in (DateRange(D(2026, 1, 1), SEGMENT_END), RANGE, SELL_RANGE):
            on_pg, on_sqlite = (_comparable(read(e, days, granularity, channels)) for e in (engine, snapshot))
            for a, b in zip(on_pg.datasets(), on_sqlite.datasets(), strict=True):
                assert a == b, a.key
            assert on_pg == on_sqlite
            assert sum(on_pg.sales.values("orders")) > 0
    finally:
        snapshot.dispose()


# -- the service: permissions, today, recording events ------------------------------------------


@pytest.mark.parametrize("granularity", list(Granularity))
def test_reads_spread_over_connections_equal_reads_on_one(
    services: Services, staff: Staff, granularity: Granularity
) -> None:
    everything().load(services.ctx.engine)
    one = AnalyticsService(services.ctx, lanes=1)
    query = DashboardQuery(DateRange(D(2026, 1, 1), SEGMENT_END), granularity, ("web",))
    assert services.analytics.lanes > 1
    assert services.analytics.dashboard(staff.viewer, query) == one.dashboard(staff.viewer, query)


def test_the_lanes_read_the_snapshot_of_the_unit_of_work_not_later_commits(engine: Engine) -> None:
    main_shop().load(engine)
    count = select(func.count()).select_from(OrderEvent)
    with Session(engine) as session:
        snapshot = session.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        later = Shop()
        later.order("LATE-1", "late", "web", "1.00", D(2026, 3, 10))
        later.load(engine)  # committed by another connection after the snapshot was taken
        run = snapshot_lanes(engine, snapshot, 2)
        found = run({"a": lambda s: s.scalar(count), "b": lambda s: s.scalar(count)})
    with Session(engine) as session:
        assert session.scalar(count) == len(main_shop().orders) + 1
    assert found == {"a": len(main_shop().orders), "b": len(main_shop().orders)}


def test_a_viewer_may_read_the_dashboard(services: Services, staff: Staff) -> None:
    board = services.analytics.dashboard(staff.viewer, DashboardQuery(RANGE))
    assert board.read_at == services.ctx.clock()
    assert len(board.sales.rows) == 30


def test_someone_without_analytics_read_is_refused(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    services.roles.create_role(staff.admin, "stock keeper", frozenset({"inventory.read"}))
    keeper = make_user("stock keeper", email="keeper@shop.example")
    with pytest.raises(PermissionDenied):
        services.analytics.dashboard(keeper, DashboardQuery(RANGE))
    with pytest.raises(PermissionDenied):
        services.analytics.today(keeper)
    with pytest.raises(PermissionDenied):
        services.tables["orders"].page(keeper, ListQuery())


def test_a_range_that_ends_before_it_starts_is_refused(services: Services, staff: Staff) -> None:
    with pytest.raises(ValidationError) as refused:
        services.analytics.dashboard(staff.viewer, DashboardQuery(DateRange(D(2026, 3, 2), D(2026, 3, 1))))
    assert "range" in refused.value.fields


def test_today_is_the_shops_calendar_day(services: Services, staff: Staff, clock: FakeClock) -> None:
    clock.now = utc(2026, 11, 27, 22, 30)  # 23:30 in Berlin
    assert services.analytics.today(staff.viewer) == D(2026, 11, 27)
    clock.now = utc(2026, 11, 27, 23, 30)  # 00:30 on the 28th in Berlin
    assert services.analytics.today(staff.viewer) == D(2026, 11, 28)
    services.settings.update_system_settings(staff.admin, {"timezone": "America/New_York"})
    assert services.analytics.today(staff.viewer) == D(2026, 11, 27)  # 18:30 in New York


def test_a_recorded_event_is_stored_audited_and_charted(
    services: Services, staff: Staff, engine: Engine
) -> None:
    event_id = services.analytics.record_event(
        staff.manager, "storefront_sessions", 40, {"channel": "web"}, utc(2026, 3, 4, 12)
    )
    with Session(engine) as session:
        event = session.get(AnalyticsData, event_id)
        assert event is not None
        assert (event.metric_type, event.value, event.meta, event.user_id) == (
            "storefront_sessions",
            Decimal("40"),
            {"channel": "web"},
            staff.manager.user_id,
        )
    [entry] = audit_entries(engine, "analytics.event_recorded")
    assert entry.entity_id == str(event_id) and entry.after is not None and entry.after["value"] == "40"
    board = services.analytics.dashboard(
        staff.viewer, DashboardQuery(DateRange(D(2026, 3, 4), D(2026, 3, 4)))
    )
    assert board.conversion.rows == ((D(2026, 3, 4), 40, 0, Decimal("0.00")),)


def test_an_event_without_a_moment_is_recorded_now(services: Services, staff: Staff, engine: Engine) -> None:
    event_id = services.analytics.record_event(staff.manager, "page_view", Decimal("1"))
    with Session(engine) as session:
        event = session.get(AnalyticsData, event_id)
        assert event is not None and event.recorded_at == services.ctx.clock()


@pytest.mark.parametrize(
    ("metric_type", "value", "metadata", "recorded_at", "field_name"),
    [
        ("Page View", 1, None, None, "metric_type"),
        ("x" * 65, 1, None, None, "metric_type"),
        ("1st", 1, None, None, "metric_type"),
        ("page_view", Decimal("NaN"), None, None, "value"),
        ("page_view", float("inf"), None, None, "value"),
        ("page_view", True, None, None, "value"),
        ("page_view", Decimal("0.00001"), None, None, "value"),
        ("page_view", Decimal("1e15"), None, None, "value"),
        ("page_view", 1, {"channel": 3}, None, "metadata"),
        ("page_view", 1, {"when": dt.date(2026, 1, 1)}, None, "metadata"),
        ("page_view", 1, None, dt.datetime(2026, 3, 4, 12), "recorded_at"),
    ],
)
def test_a_bad_event_is_refused_and_nothing_is_stored(
    services: Services,
    staff: Staff,
    engine: Engine,
    metric_type: str,
    value: Any,
    metadata: Any,
    recorded_at: Any,
    field_name: str,
) -> None:
    with pytest.raises(ValidationError) as refused:
        services.analytics.record_event(staff.manager, metric_type, value, metadata, recorded_at)
    assert field_name in refused.value.fields
    assert row_count(engine, AnalyticsData) == 0
    assert audit_entries(engine, "analytics.event_recorded") == []


def test_a_viewer_may_not_record_events(services: Services, staff: Staff, engine: Engine) -> None:
    with pytest.raises(PermissionDenied):
        services.analytics.record_event(staff.viewer, "page_view", 1)
    assert row_count(engine, AnalyticsData) == 0


# -- chart data as CSV ----------------------------------------------------------------------------


def test_a_dataset_writes_csv_as_every_list_export_does() -> None:
    dataset = Dataset(
        "example",
        "Example",
        (
            Column("period", "Period", Kind.DATE),
            Column("name", "Name, as shown"),
            Column("revenue", "Revenue", Kind.MONEY),
            Column("rate", "Rate", Kind.PERCENT),
        ),
        (
            (D(2026, 3, 4), "=SUM(A1)", Decimal("-10.50"), None),
            (D(2026, 3, 5), 'say "hi"', Decimal("1E+2"), Decimal("2.5")),
        ),
    )
    out = io.StringIO()
    assert dataset.write_csv(out) == 2
    assert out.getvalue() == (
        'Period,"Name, as shown",Revenue,Rate\n'
        "2026-03-04,'=SUM(A1),-10.50,\n"
        '2026-03-05,"say ""hi""",100,2.5\n'
    )


def test_the_dashboards_datasets_export_their_rows(db: Engine) -> None:
    main_shop().load(db)
    board = read(db, RANGE, WEEK)
    out = io.StringIO()
    board.sales.write_csv(out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Period,Revenue,Orders"
    assert lines[1:] == [
        "2026-03-04,55.00,2",
        "2026-03-09,-10.00,0",
        "2026-03-16,115.00,3",
        "2026-03-23,0.00,0",
        "2026-03-30,65.00,2",
    ]
