"""The seven report kinds against small hand-made shops whose rows can be worked out on paper:
each kind's rows, their order and types, its filters, the parameters' normalisation and its
messages, and that the large kinds stream through a server-side cursor.

Orders are inserted with the dashboard tests' `Shop` (their shop days given, as ingestion stores
them; `metrics.rebuild` derives the daily tables). Expectations are written out by hand, with the
arithmetic in a comment, or computed in Python from the inserted rows — never by the same query.
"""

from __future__ import annotations

import datetime as dt
import inspect
import tracemalloc
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import AuditEntry, InventoryItem, SalesMetric, SystemSetting, User, metadata
from ecomdesk.services.analytics import SEGMENTS, DashboardQuery, DateRange
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.inventory import THRESHOLD_KEY
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.report_kinds import REPORT_KINDS, ReportKind, report_kind
from tests.services.conftest import Staff
from tests.services.test_analytics import SEGMENT_END, Shop, segment_shop

D = dt.date
M = Decimal
TODAY = D(2026, 11, 27)


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty shop database on PostgreSQL (migrated) or SQLite (the offline snapshot's schema):
    the kinds' queries must run unchanged on both."""
    if request.param == "postgresql":
        yield request.getfixturevalue("engine")
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'snapshot.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def run(engine: Engine, name: str, raw: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """The rows of kind `name` for `raw` parameters, normalised as a request would."""
    kind = report_kind(name)
    with Session(engine) as session:
        params = kind.normalise(session, raw or {}, TODAY)
        return [tuple(row) for row in kind.rows(session, params)]


def normalise(engine: Engine, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    with Session(engine) as session:
        return report_kind(name).normalise(session, raw, TODAY)


def problems(engine: Engine, name: str, raw: Mapping[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        normalise(engine, name, raw)
    return refused.value.fields


def set_setting(engine: Engine, key: str, value: Any) -> None:
    with engine.begin() as conn:
        conn.execute(delete(SystemSetting).where(SystemSetting.key == key))
        conn.execute(insert(SystemSetting).values(key=key, value=value))


# -- the registry ---------------------------------------------------------------------------------


def test_every_kind_is_registered_with_the_permission_it_needs() -> None:
    assert {name: kind.permission for name, kind in REPORT_KINDS.items()} == {
        "sales-summary": "analytics.read",
        "customer-metrics": "analytics.read",
        "customer-segments": "analytics.read",
        "inventory-valuation": "inventory.read",
        "low-stock": "inventory.read",
        "user-directory": "users.read",
        "audit-extract": "audit.read",
    }
    for name, kind in REPORT_KINDS.items():
        assert kind.name == name and kind.title and kind.description
        assert len({c.key for c in kind.columns({})}) == len(kind.columns({}))


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError) as refused:
        report_kind("sales")
    assert "Unknown report kind: sales." in refused.value.fields["kind"]
    assert "sales-summary" in refused.value.fields["kind"]


# -- sales-summary --------------------------------------------------------------------------------

# Wednesday 4 March – Thursday 2 April 2026. Weeks: 4-8 Mar (clipped), 9-15, 16-22, 23-29, 30 Mar -
# 2 Apr (clipped). Months: 4-31 March (clipped), 1-2 April (clipped).
SALES_RANGE = {"date_from": "2026-03-04", "date_to": "2026-04-02"}


def sales_shop() -> Shop:
    shop = Shop()
    # Paid before the range, refunded in the week of 9 March: a refund-only row there.
    shop.order("A-1", "alice", "web", "40.00", D(2026, 3, 2), refund=("10.00", D(2026, 3, 10)))
    # Paid in the first week, part refunded in the third.
    shop.order("B-1", "bob", "web", "25.00", D(2026, 3, 5), refund=("5.00", D(2026, 3, 17)))
    shop.order("C-1", "carol", "app", "50.00", D(2026, 3, 5))  # one customer, two orders
    shop.order("C-2", "carol", "app", "20.00", D(2026, 3, 6))
    shop.order("D-1", "dave", "web", "30.00", D(2026, 3, 17))
    shop.order("E-1", "erin", "web", "33.33", D(2026, 4, 1))  # 43.33 / 2 = 21.665 → 21.67
    shop.order("E-2", "erin", "web", "10.00", D(2026, 4, 2))
    shop.order("F-1", "frank", "web", "99.00", D(2026, 4, 3))  # the day after the range
    shop.order("G-1", "gina", "app", "12.00", None)  # never paid
    return shop


def test_sales_summary_by_week_clips_the_first_and_last_week_and_counts_refunds_on_their_own_day(
    db: Engine,
) -> None:
    sales_shop().load(db)
    none = M("0.00")
    assert run(db, "sales-summary", {**SALES_RANGE, "granularity": "week"}) == [
        # start, end, channel, orders, customers, gross, refunds, revenue, average order value
        (D(2026, 3, 4), D(2026, 3, 8), "app", 2, 1, M("70.00"), none, M("70.00"), M("35.00")),
        (D(2026, 3, 4), D(2026, 3, 8), "web", 1, 1, M("25.00"), none, M("25.00"), M("25.00")),
        (D(2026, 3, 9), D(2026, 3, 15), "web", 0, 0, none, M("10.00"), M("-10.00"), None),
        (D(2026, 3, 16), D(2026, 3, 22), "web", 1, 1, M("30.00"), M("5.00"), M("25.00"), M("30.00")),
        (D(2026, 3, 30), D(2026, 4, 2), "web", 2, 1, M("43.33"), none, M("43.33"), M("21.67")),
    ]


def test_sales_summary_by_month_and_for_one_channel(db: Engine) -> None:
    sales_shop().load(db)
    by_month = run(db, "sales-summary", {**SALES_RANGE, "granularity": "month"})
    assert by_month == [
        (D(2026, 3, 4), D(2026, 3, 31), "app", 2, 1, M("70.00"), M("0.00"), M("70.00"), M("35.00")),
        # bob 25 + dave 30; refunds 10 (alice) + 5 (bob); 55 / 2 = 27.50
        (D(2026, 3, 4), D(2026, 3, 31), "web", 2, 2, M("55.00"), M("15.00"), M("40.00"), M("27.50")),
        (D(2026, 4, 1), D(2026, 4, 2), "web", 2, 1, M("43.33"), M("0.00"), M("43.33"), M("21.67")),
    ]
    only_app = run(db, "sales-summary", {**SALES_RANGE, "granularity": "month", "channels": ["app"]})
    assert only_app == [row for row in by_month if row[2] == "app"]


def test_sales_summary_by_day_agrees_with_the_daily_sales_table(engine: Engine) -> None:
    """Revenue and orders per day and channel as ingestion's own roll-up (`sales_metrics`) has them."""
    sales_shop().load(engine)
    with Session(engine) as session:
        stored = {
            (day, channel): (orders, revenue)
            for day, channel, orders, revenue in session.execute(
                select(SalesMetric.date, SalesMetric.channel, SalesMetric.orders, SalesMetric.revenue).where(
                    SalesMetric.date.between(D(2026, 3, 4), D(2026, 4, 2))
                )
            )
        }
    rows = run(engine, "sales-summary", SALES_RANGE)
    assert {(r[0], r[2]): (r[3], r[7]) for r in rows} == stored
    assert all(r[0] == r[1] for r in rows)


# -- customer-metrics -----------------------------------------------------------------------------


def test_customer_metrics_are_the_days_of_the_range(engine: Engine) -> None:
    sales_shop().load(engine)
    assert run(engine, "customer-metrics", {"date_from": "2026-03-05", "date_to": "2026-03-06"}) == [
        # 5 March: bob and carol, both first seen; (25 + 50) / 2
        (D(2026, 3, 5), 2, 2, 0, M("37.50")),
        # 6 March: carol again (first seen the day before)
        (D(2026, 3, 6), 1, 0, 1, M("20.00")),
    ]


# -- customer-segments ----------------------------------------------------------------------------


def segments_with_an_app_customer() -> Shop:
    """The dashboard tests' segment shop (all web) and one app customer: s10, 15.00 on 15 June."""
    shop = segment_shop()
    shop.order("S10-0", "s10", "app", "15.00", D(2026, 6, 15))
    return shop


def test_customer_segments_list_each_customer_in_segment_order_then_by_spend(db: Engine) -> None:
    segments_with_an_app_customer().load(db)
    # As of 30 June 2026: the 12 months are 1 July 2025 - 30 June 2026 (s8 paid before, s9 after).
    assert run(db, "customer-segments", {"as_of": SEGMENT_END}) == [
        ("s1", "Champions", D(2026, 6, 20), 3, M("300.00"), D(2026, 2, 1)),
        ("s3", "Loyal", D(2026, 4, 15), 4, M("80.00"), D(2025, 12, 1)),
        ("s2", "Loyal", D(2026, 6, 25), 3, M("30.00"), D(2026, 1, 5)),
        ("s4", "Promising", D(2026, 6, 1), 1, M("50.00"), D(2026, 6, 1)),
        ("s10", "Promising", D(2026, 6, 15), 1, M("15.00"), D(2026, 6, 15)),
        ("s5", "Needs attention", D(2026, 5, 31), 2, M("50.00"), D(2026, 3, 1)),
        ("s6", "At risk", D(2026, 2, 1), 1, M("40.00"), D(2026, 2, 1)),
        ("s7", "Hibernating", D(2025, 9, 1), 1, M("60.00"), D(2025, 9, 1)),
    ]
    assert run(db, "customer-segments", {"as_of": SEGMENT_END, "segment": "loyal"}) == [
        ("s3", "Loyal", D(2026, 4, 15), 4, M("80.00"), D(2025, 12, 1)),
        ("s2", "Loyal", D(2026, 6, 25), 3, M("30.00"), D(2026, 1, 5)),
    ]
    assert run(db, "customer-segments", {"as_of": SEGMENT_END, "channels": "app"}) == [
        ("s10", "Promising", D(2026, 6, 15), 1, M("15.00"), D(2026, 6, 15)),
    ]


@pytest.mark.parametrize("channels", [(), ("web",)])
def test_customer_segments_add_up_to_the_dashboards_segments_on_the_same_day(
    services: Services, staff: Staff, engine: Engine, channels: tuple[str, ...]
) -> None:
    everything = segments_with_an_app_customer() + sales_shop()
    everything.load(engine)
    for as_of in (SEGMENT_END, D(2026, 4, 2), D(2026, 3, 20)):
        rows = run(engine, "customer-segments", {"as_of": as_of, "channels": list(channels)})
        counted: dict[str, list[Any]] = defaultdict(lambda: [0, M("0.00")])
        for _customer, segment, _last, _orders, spend, _first in rows:
            counted[segment][0] += 1
            counted[segment][1] += spend
        board = services.analytics.dashboard(
            staff.admin, DashboardQuery(DateRange(as_of - dt.timedelta(days=29), as_of), channels=channels)
        )
        shown = {row[0]: [row[1], row[2]] for row in board.segments.rows}
        assert {s.name: counted.get(s.name, [0, M("0.00")]) for s in SEGMENTS} == shown, as_of
        assert sum(count for count, _spend in shown.values()) > 0


# -- inventory ------------------------------------------------------------------------------------


def add_items(engine: Engine, *items: dict[str, Any]) -> None:
    defaults = {"reserved": 0, "reorder_level": None, "archived_at": None, "supplier": "Acme"}
    rows = [{**defaults, "name": item["sku"].title(), **item} for item in items]
    with engine.begin() as conn:
        conn.execute(insert(InventoryItem), rows)


ARCHIVED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def valuation_items(engine: Engine) -> None:
    """The shop's default threshold is 10 (none set)."""
    add_items(
        engine,
        # available 10 ≤ 10 (default): low
        {"sku": "A1", "category": "Apparel", "stock": 10, "cost": M("2.00"), "price": M("5.00")},
        {"sku": "A2", "category": "Apparel", "supplier": "Bolt", "stock": 100, "cost": M("1.50"),
         "price": M("4.00"), "reorder_level": 5},
        # available 3 - 1 = 2 ≤ its reorder level 2: low
        {"sku": "H1", "category": "Home", "stock": 3, "reserved": 1, "cost": M("20.00"),
         "price": M("50.00"), "reorder_level": 2},
        {"sku": "H2", "category": "Home", "supplier": "Bolt", "stock": 0, "cost": M("7.00"),
         "price": M("9.99"), "archived_at": ARCHIVED},
    )  # fmt: skip


def test_inventory_valuation_by_category_ends_with_the_total_and_may_count_archived_items(db: Engine) -> None:
    valuation_items(db)
    # group, items, units, at cost, at retail, low stock
    assert run(db, "inventory-valuation") == [
        ("Apparel", 2, 110, M("170.00"), M("450.00"), 1),  # 10×2 + 100×1.50; 10×5 + 100×4
        ("Home", 1, 3, M("60.00"), M("150.00"), 1),
        ("Total", 3, 113, M("230.00"), M("600.00"), 2),
    ]
    with_archived = run(db, "inventory-valuation", {"include_archived": "yes"})
    assert with_archived == [
        ("Apparel", 2, 110, M("170.00"), M("450.00"), 1),
        ("Home", 2, 3, M("60.00"), M("150.00"), 2),  # H2: no stock, 0 ≤ 10
        ("Total", 4, 113, M("230.00"), M("600.00"), 3),
    ]


def test_inventory_valuation_by_supplier_puts_the_largest_value_first_and_totals_every_column(
    db: Engine,
) -> None:
    valuation_items(db)
    rows = run(db, "inventory-valuation", {"group_by": "supplier"})
    assert rows[:-1] == [
        ("Bolt", 1, 100, M("150.00"), M("400.00"), 0),
        ("Acme", 2, 13, M("80.00"), M("200.00"), 2),
    ]
    assert rows[-1] == ("Total", *(sum(column) for column in zip(*(r[1:] for r in rows[:-1]), strict=True)))
    assert report_kind("inventory-valuation").columns({"group_by": "supplier"})[0].title == "Supplier"


def low_stock_items(engine: Engine) -> None:
    def item(sku: str, category: str, stock: int, **extra: Any) -> dict[str, Any]:
        prices = {"cost": M("1.25"), "price": M("2.50")}
        return {"sku": sku, "category": category, "stock": stock, **prices, **extra}

    add_items(
        engine,
        item("P1", "Apparel", 6, reserved=3),
        item("P2", "Apparel", 8, reorder_level=10, cost=M("3.00"), price=M("6.00")),
        item("P3", "Home", 5),
        item("P4", "Home", 0, reorder_level=0),
        item("P5", "Home", 30, reorder_level=10),
        item("P6", "Home", 0, archived_at=ARCHIVED),
    )


def low(engine: Engine, raw: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """sku, available, threshold, shortfall of each row."""
    return [(r[0], r[6], r[7], r[8]) for r in run(engine, "low-stock", raw)]


def test_low_stock_uses_the_reorder_level_else_the_shops_default_and_an_override_replaces_both(
    db: Engine,
) -> None:
    low_stock_items(db)
    set_setting(db, THRESHOLD_KEY, 4)
    # P1: 6 - 3 = 3 ≤ the shop's 4; P2: 8 ≤ its 10; P3: 5 > 4; P4: 0 ≤ 0; P5: 30 > 10; P6 archived.
    assert low(db) == [("P2", 8, 10, 2), ("P1", 3, 4, 1), ("P4", 0, 0, 0)]
    # At most 5 available, whatever the item's own level: P3 now counts, P2 no longer does.
    assert low(db, {"threshold": "5"}) == [("P4", 0, 5, 5), ("P1", 3, 5, 2), ("P3", 5, 5, 0)]
    assert low(db, {"category": "Apparel"}) == [("P2", 8, 10, 2), ("P1", 3, 4, 1)]
    first = run(db, "low-stock")[0]
    assert first == ("P2", "P2", "Apparel", "Acme", 8, 0, 8, 10, 2, M("3.00"), M("6.00"))


def test_low_stock_without_a_threshold_lists_what_the_inventory_lists_low_stock_filter_shows(
    services: Services, staff: Staff, engine: Engine
) -> None:
    low_stock_items(engine)
    listed = services.inventory.table.page(staff.admin, ListQuery(filters={"low_stock": True}))
    assert sorted(r[0] for r in run(engine, "low-stock")) == sorted(row.sku for row in listed.rows)


def test_low_stock_streams_fifty_thousand_items_through_a_server_side_cursor(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO inventory_items (sku, name, category, supplier, stock, reserved, price, cost)"
                " SELECT 'SKU' || lpad(n::text, 6, '0'), 'Item ' || n, 'Bulk', 'Acme', n % 5, 0, 2, 1"
                " FROM generate_series(1, 50000) AS n"
            )
        )
    kind = report_kind("low-stock")
    with Session(engine) as session:
        rows = kind.rows(session, kind.normalise(session, {}, TODAY))
        streamed = inspect.isgenerator(rows)  # (a name, so the check does not narrow `rows`)
        assert streamed
        tracemalloc.start()
        try:
            first = next(rows)
            # The rows wait on the server in a cursor of this transaction, not in this process.
            assert session.scalar(text("SELECT count(*) FROM pg_cursors")) == 1
            count = 1 + sum(1 for _row in rows)
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 50_000  # every stock 0-4 is at most the default 10
    assert first[0] == "SKU000005" and first[8] == 10  # stock 0, sku ascending among those
    # One batch of rows held at once (about 8 MB measured), not fifty thousand: the same read
    # buffered whole (without `yield_per`) peaks at about 33 MB.
    assert peak < 16 * 1024 * 1024, peak


# -- user-directory -------------------------------------------------------------------------------


def test_user_directory_lists_active_staff_by_email_without_secrets(
    services: Services, staff: Staff, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(update(User).where(User.email == "max@shop.example").values(locked_at=func.now()))
    services.users.set_active(staff.admin, staff.viewer.user_id, False)
    kind = report_kind("user-directory")
    assert [c.key for c in kind.columns({})] == [
        "email", "first_name", "last_name", "role", "phone",
        "active", "locked", "last_login_at", "created_at",
    ]  # fmt: skip
    rows = run(engine, "user-directory")
    assert [(r[0], r[1], r[2], r[3], r[5], r[6]) for r in rows] == [
        ("ada@shop.example", "Ada", "Admin", "admin", True, False),
        ("max@shop.example", "Max", "Manager", "manager", True, True),
    ]
    everyone = run(engine, "user-directory", {"include_inactive": True})
    assert [r[0] for r in everyone] == ["ada@shop.example", "max@shop.example", "vic@shop.example"]
    assert everyone[2][5] is False
    for row in everyone:
        assert row[8].tzinfo is not None  # created_at: an aware moment
        assert row[7] is not None and row[7].tzinfo is not None  # each signed in (the fixture)
    with Session(engine) as session:
        hashes = set(session.scalars(select(User.password_hash)))
    assert not hashes & {value for row in everyone for value in row}


# -- audit-extract --------------------------------------------------------------------------------

AUCKLAND = zoneinfo.ZoneInfo("Pacific/Auckland")


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def audit_trail(engine: Engine) -> list[dict[str, Any]]:
    """Entries around 10 March 2026 in Auckland (NZDT, UTC+13): that shop day runs from
    9 March 11:00 UTC to 10 March 11:00 UTC."""
    entries: list[dict[str, Any]] = [
        {"occurred_at": utc(2026, 3, 9, 10, 59), "actor_email": "ada@shop.example", "action": "user.created",
         "entity_type": "user", "entity_id": "1", "before": None, "after": {"email": "x@y.z"}},
        {"occurred_at": utc(2026, 3, 9, 11, 0), "actor_email": "ada@shop.example", "action": "item.updated",
         "entity_type": "inventory_item", "entity_id": "7", "before": {"price": "2.00", "name": "Mug"},
         "after": {"price": "2.50", "name": "Mug"}},
        {"occurred_at": utc(2026, 3, 10, 1, 0), "actor_email": "max@shop.example", "action": "user.updated",
         "entity_type": "user", "entity_id": "2", "before": {"phone": None}, "after": {"phone": "+64 9 555"}},
        {"occurred_at": utc(2026, 3, 10, 10, 59, 59), "actor_email": None, "action": "settings.changed",
         "entity_type": "setting", "entity_id": None, "before": {"a": 1}, "after": {"a": 2}},
        {"occurred_at": utc(2026, 3, 10, 11, 0), "actor_email": "max@shop.example", "action": "item.created",
         "entity_type": "inventory_item", "entity_id": "8", "before": None, "after": {"sku": "NEW"}},
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry), entries)
    return entries


def test_audit_extract_covers_whole_shop_days_in_the_shops_zone(db: Engine) -> None:
    set_setting(db, "shop.timezone", "Pacific/Auckland")
    entries = audit_trail(db)
    rows = run(db, "audit-extract", {"date_from": "2026-03-10", "date_to": "2026-03-10"})
    on_the_day = [e for e in entries if e["occurred_at"].astimezone(AUCKLAND).date() == D(2026, 3, 10)]
    assert [r[0] for r in rows] == [e["occurred_at"] for e in on_the_day]
    assert [r[0] for r in rows] == [
        utc(2026, 3, 9, 11, 0),
        utc(2026, 3, 10, 1, 0),
        utc(2026, 3, 10, 10, 59, 59),
    ]
    assert rows[0] == (
        utc(2026, 3, 9, 11, 0), "ada@shop.example", "item.updated", "inventory_item", "7",
        '{"name":"Mug","price":"2.00"}', '{"name":"Mug","price":"2.50"}',
    )  # fmt: skip
    assert rows[2][1] is None and rows[2][4] is None
    two_days = run(db, "audit-extract", {"date_from": "2026-03-10", "date_to": "2026-03-11"})
    assert len(two_days) == 4


def test_audit_extract_filters_by_user_and_entity(engine: Engine) -> None:
    set_setting(engine, "shop.timezone", "Pacific/Auckland")
    audit_trail(engine)
    march = {"date_from": "2026-03-01", "date_to": "2026-03-31"}
    by_max = run(engine, "audit-extract", {**march, "user": "max@shop.example"})
    assert [r[2] for r in by_max] == ["user.updated", "item.created"]
    items = run(engine, "audit-extract", {**march, "entity": "inventory_item"})
    assert [r[2] for r in items] == ["item.updated", "item.created"]
    both = run(engine, "audit-extract", {**march, "user": "ada@shop.example", "entity": "user"})
    assert [r[2] for r in both] == ["user.created"]
    with Session(engine) as session:
        kind = report_kind("audit-extract")
        assert [c.value for c in kind.choices(session, "entity")] == ["inventory_item", "setting", "user"]
        assert [c.value for c in kind.choices(session, "user")] == ["ada@shop.example", "max@shop.example"]


# -- normalise: defaults, text and typed input, messages ------------------------------------------


def test_missing_parameters_take_the_defaults_of_the_shops_today(engine: Engine) -> None:
    assert normalise(engine, "sales-summary", {}) == {
        "date_from": "2026-10-28",  # the last 30 full days: 28 October - 26 November
        "date_to": "2026-11-26",
        "granularity": "day",
        "channels": [],
    }
    assert normalise(engine, "audit-extract", {}) == {
        "date_from": "2026-10-29",  # the last 30 days, today included
        "date_to": "2026-11-27",
        "user": None,
        "entity": None,
    }
    assert normalise(engine, "customer-segments", {}) == {
        "as_of": "2026-11-26",
        "channels": [],
        "segment": None,
    }
    assert normalise(engine, "low-stock", {"threshold": ""}) == {"threshold": None, "category": None}
    assert normalise(engine, "user-directory", {}) == {"include_inactive": False}


def test_text_and_typed_parameters_are_stored_alike(engine: Engine) -> None:
    sales_shop().load(engine)
    as_text = normalise(
        engine,
        "sales-summary",
        {"date_from": " 2026-03-04", "date_to": "2026-04-02", "granularity": "Week", "channels": "web, app"},
    )
    typed = normalise(
        engine,
        "sales-summary",
        {
            "date_from": D(2026, 3, 4),
            "date_to": D(2026, 4, 2),
            "granularity": "week",
            "channels": ("web", "app"),
        },
    )
    assert (
        as_text
        == typed
        == {
            "date_from": "2026-03-04",
            "date_to": "2026-04-02",
            "granularity": "week",
            "channels": ["app", "web"],
        }
    )
    assert normalise(engine, "low-stock", {"threshold": "7"}) == normalise(
        engine, "low-stock", {"threshold": 7}
    )
    for text_value, value in (("yes", True), ("1", True), ("False", False), ("no", False)):
        assert normalise(engine, "user-directory", {"include_inactive": text_value}) == {
            "include_inactive": value
        }
    assert normalise(engine, "customer-segments", {"segment": "Needs attention"})["segment"] == "attention"


def test_every_bad_parameter_is_reported_at_once_in_words_staff_understand(engine: Engine) -> None:
    sales_shop().load(engine)  # channels with sales: app, web
    assert problems(
        engine,
        "sales-summary",
        {
            "date_from": "31/10/2026",
            "date_to": "2026-02-30",
            "granularity": "fortnight",
            "channels": "web,tv",
        },
    ) == {
        "date_from": "Use a date like 2026-10-31.",
        "date_to": "Use a date like 2026-10-31.",
        "granularity": "Unknown period: fortnight. Known: day, week, month.",
        "channels": "Unknown channel: tv. Known: app, web.",
    }
    assert problems(engine, "low-stock", {"threshold": "-1"}) == {
        "threshold": "Use a whole number of 0 or more, e.g. 5."
    }
    assert problems(engine, "user-directory", {"include_inactive": "maybe"}) == {
        "include_inactive": "Use true or false (or yes/no, 1/0)."
    }
    assert problems(engine, "low-stock", {"category": "Garden"}) == {
        "category": "Unknown category: Garden. There are no category values to choose from yet."
    }


def test_an_unknown_parameter_is_refused_naming_the_known_ones(engine: Engine) -> None:
    assert problems(engine, "sales-summary", {"foo": "1", "granularity": "day"}) == {
        "foo": "Unknown parameter for Sales summary: foo. Known: channels, date_from, date_to, granularity."
    }


def test_a_range_that_ends_before_it_starts_is_refused(engine: Engine) -> None:
    for name in ("sales-summary", "customer-metrics", "audit-extract"):
        assert problems(engine, name, {"date_from": "2026-10-31", "date_to": "2026-10-01"}) == {
            "date_to": "The range ends before it starts."
        }


@pytest.mark.parametrize(
    ("name", "raw", "title"),
    [
        ("sales-summary", {"date_from": "2026-10-01", "date_to": "2026-10-31", "granularity": "week"},
         "Sales summary 2026-10-01 – 2026-10-31, by week"),
        ("customer-metrics", {"date_from": "2026-10-01", "date_to": "2026-10-31"},
         "Customer metrics 2026-10-01 – 2026-10-31"),
        ("customer-segments", {"as_of": "2026-10-31", "segment": "champions"},
         "Customer segments as of 2026-10-31, Champions"),
        ("inventory-valuation", {"group_by": "supplier"}, "Inventory valuation by supplier"),
        ("low-stock", {}, "Low stock"),
        ("user-directory", {"include_inactive": True}, "User directory, inactive included"),
        ("audit-extract", {"date_from": "2026-10-01", "date_to": "2026-10-31"},
         "Audit extract 2026-10-01 – 2026-10-31"),
    ],
)  # fmt: skip
def test_each_kind_titles_a_report_by_what_it_covers(
    engine: Engine, name: str, raw: Mapping[str, Any], title: str
) -> None:
    kind: ReportKind = report_kind(name)
    assert kind.title_for(normalise(engine, name, raw)) == title


def test_titles_name_the_channels_and_the_category(engine: Engine) -> None:
    sales_shop().load(engine)
    add_items(engine, {"sku": "T1", "category": "Apparel", "stock": 1, "cost": M("1.00"), "price": M("2.00")})
    summary = report_kind("sales-summary")
    params = normalise(engine, "sales-summary", {"date_from": "2026-10-01", "date_to": "2026-10-31",
                                                 "granularity": "week", "channels": "web,app"})  # fmt: skip
    assert summary.title_for(params) == "Sales summary 2026-10-01 – 2026-10-31, by week, app + web"
    stock = report_kind("low-stock")
    assert stock.title_for(normalise(engine, "low-stock", {"category": "apparel"})) == "Low stock – Apparel"
