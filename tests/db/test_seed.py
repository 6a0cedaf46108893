"""Demo data: realistic enough to show, consistent with the constraints, the same every time.

The daily figures are derived from the seeded orders, so most checks here recompute them from the
orders with SQL written independently of `db.metrics` and expect exactly the stored rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from ecomdesk.db.engine import make_engine
from ecomdesk.db.seed import CHANNELS, DEMO_ACCOUNTS, is_seeded, reset_demo_data, seed_demo_data
from tests.conftest import scratch_database

TODAY = dt.date(2026, 11, 27)
#: Midnight UTC at the start of TODAY: nothing the seed writes happens at or after it.
ANCHOR = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
#: In Berlin (the demo's zone) the anchor is 01:00 on TODAY, so the last whole shop day is the 26th,
#: which ends at 23:00 UTC.
LAST_DAY = dt.date(2026, 11, 26)
HISTORY_END = dt.datetime(2026, 11, 26, 23, tzinfo=dt.UTC)


def _fake_hash(password: str) -> str:
    return f"not-a-real-hash:{len(password)}"


@pytest.fixture(scope="module")
def seeded(pg_admin_url: str, template_database: str) -> Iterator[Engine]:
    """One demo shop at scale 0.2 (two years, about 80,000 orders) for the checks that only read."""
    with scratch_database(pg_admin_url, template_database, "ecomdesk_seed") as url:
        engine = make_engine(url)
        try:
            seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.2)
            yield engine
        finally:
            engine.dispose()


def _scalar(conn: Connection, query: str, **params: object) -> Any:
    return conn.execute(text(query), params).scalar_one()


def _metric_differences(conn: Connection) -> dict[str, int]:
    """Rows of each derived table that an aggregation of the orders written here does not give
    (and the other way round). Refunds lower the day and channel they happen on; a customer is new
    on the day of their first paid order; average order value is rounded half-up to cents."""
    recomputed_sales = """
        WITH paid AS (
            SELECT paid_date AS date, channel, sum(amount) AS amount, count(*) AS orders,
                   count(DISTINCT customer_id) AS customers
            FROM order_events WHERE paid_date IS NOT NULL GROUP BY 1, 2),
        refunds AS (
            SELECT refund_date AS date, channel, sum(refund_amount) AS refunded
            FROM order_events WHERE refund_date IS NOT NULL GROUP BY 1, 2)
        SELECT date, channel, coalesce(p.amount, 0) - coalesce(r.refunded, 0) AS revenue,
               coalesce(p.orders, 0) AS orders, coalesce(p.customers, 0) AS customers
        FROM paid p FULL JOIN refunds r USING (date, channel)"""
    recomputed_daily = """
        WITH firsts AS (
            SELECT customer_id, min(paid_date) AS first_paid FROM order_events GROUP BY 1)
        SELECT o.paid_date AS date, count(DISTINCT o.customer_id) AS total_customers,
               count(DISTINCT o.customer_id) FILTER (WHERE f.first_paid = o.paid_date) AS new_customers,
               count(DISTINCT o.customer_id) FILTER (WHERE f.first_paid < o.paid_date) AS returning_customers,
               round(sum(o.amount) / count(*), 2) AS average_order_value
        FROM order_events o JOIN firsts f USING (customer_id)
        WHERE o.paid_date IS NOT NULL GROUP BY 1"""
    recomputed_customers = "SELECT customer_id, min(paid_date) FROM order_events GROUP BY 1"
    pairs = {
        "sales_metrics": (
            recomputed_sales,
            "SELECT date, channel, revenue, orders, customers FROM sales_metrics",
        ),
        "customer_metrics": (
            recomputed_daily,
            "SELECT date, total_customers, new_customers, returning_customers, average_order_value"
            " FROM customer_metrics",
        ),
        "customers": (recomputed_customers, "SELECT customer_id, first_paid_date FROM customers"),
    }
    differences = "SELECT count(*) FROM ((({a}) EXCEPT ({b})) UNION ALL (({b}) EXCEPT ({a}))) d"
    return {
        table: int(_scalar(conn, differences.format(a=ours, b=stored)))
        for table, (ours, stored) in pairs.items()
    }


def test_seed_fills_every_table_with_consistent_rows(engine):
    """The default demo (what `ecomdesk demo` seeds): two years of whole shop days, every channel
    selling every day, and figures derived from the orders."""
    summary = seed_demo_data(engine, hash_password=_fake_hash, today=TODAY)
    assert is_seeded(engine)
    with engine.connect() as conn:
        for table, count in summary.counts.items():
            if table == "settings":  # the migration already wrote the defaults; the seed adds none
                continue
            assert _scalar(conn, f"SELECT count(*) FROM {table}") == count, table
        emails = dict(
            conn.execute(text("SELECT u.email, r.name FROM users u JOIN roles r ON r.id = u.role_id")).all()
        )
        days = conn.execute(
            text("SELECT min(date), max(date), count(DISTINCT date), count(*) FROM sales_metrics")
        ).one()
        low_stock = _scalar(
            conn, "SELECT count(*) FROM inventory_items WHERE stock - reserved <= coalesce(reorder_level, 10)"
        )
        differences = _metric_differences(conn)
    assert summary.counts["inventory_items"] == 400
    assert all(emails[email] == role for email, role in DEMO_ACCOUNTS)
    # 2 years = 730 shop days, each with a row for each of the five channels.
    assert days == (LAST_DAY - dt.timedelta(days=729), LAST_DAY, 730, 730 * len(CHANNELS))
    assert differences == {"sales_metrics": 0, "customer_metrics": 0, "customers": 0}
    assert 0 < low_stock < 400, "the demo should show some low-stock rows, not all"


def test_stored_metrics_equal_a_recompute_from_the_orders(seeded):
    with seeded.connect() as conn:
        assert _metric_differences(conn) == {"sales_metrics": 0, "customer_metrics": 0, "customers": 0}
        refund_days = _scalar(
            conn,
            "SELECT count(*) FROM sales_metrics s WHERE EXISTS (SELECT 1 FROM order_events o"
            " WHERE o.refund_date = s.date AND o.channel = s.channel)",
        )
    assert refund_days > 100, "refunds should lower revenue on many days, so the check above means something"


def test_every_order_amount_is_the_sum_of_its_lines_at_the_items_prices(seeded):
    with seeded.connect() as conn:
        mismatched = _scalar(
            conn,
            "SELECT count(*) FROM order_events o LEFT JOIN (SELECT order_id,"
            " sum(quantity * unit_price) AS total FROM order_lines GROUP BY 1) l USING (order_id)"
            " WHERE l.total IS DISTINCT FROM o.amount",
        )
        shapes = conn.execute(
            text(
                "SELECT min(n), max(n), bool_and(numbers_run_from_one) FROM (SELECT order_id, count(*) AS n,"
                " min(line_no) = 1 AND max(line_no) = count(*) AND count(DISTINCT sku) = count(*)"
                " AS numbers_run_from_one FROM order_lines GROUP BY 1) per_order"
            )
        ).one()
        off_price = _scalar(
            conn,
            "SELECT count(*) FROM order_lines l LEFT JOIN inventory_items i USING (sku)"
            " WHERE i.price IS DISTINCT FROM l.unit_price",
        )
        single_unit = _scalar(conn, "SELECT avg((quantity = 1)::int) FROM order_lines")
    assert mismatched == 0
    assert shapes == (1, 4, True)
    assert off_price == 0
    assert single_unit > 0.7, "most lines are one of an item"


def test_orders_refunds_and_pending_orders_lie_within_the_history_in_order(seeded):
    with seeded.connect() as conn:
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM order_events GROUP BY 1")).all())
        latest = conn.execute(
            text(
                "SELECT max(occurred_at), max(refunded_at), max(created_at), max(updated_at)"
                " FROM order_events"
            )
        ).one()
        refunds = conn.execute(
            text(
                "SELECT min(refunded_at - occurred_at), max(refunded_at - occurred_at),"
                " bool_and(refund_amount <= amount) FROM order_events WHERE status = 'refunded'"
            )
        ).one()
        unpaid = _scalar(
            conn,
            "SELECT count(*) FROM order_events"
            " WHERE status IN ('pending', 'cancelled') AND paid_date IS NOT NULL",
        )
        pending_span = conn.execute(
            text("SELECT min(occurred_at), count(*) FROM order_events WHERE status = 'pending'")
        ).one()
        ids = conn.execute(
            text(
                "SELECT bool_and(order_id ~ '^D-20[0-9]{2}-[0-9]{7}$'),"
                " bool_and(customer_id ~ '^C[0-9]{6,}$'), bool_and(currency = 'EUR') FROM order_events"
            )
        ).one()
    paid = statuses["paid"] + statuses["refunded"]
    assert 0.02 < statuses["refunded"] / paid < 0.04, "about 3 % of paid orders are refunded"
    assert 0.005 < statuses["cancelled"] / paid < 0.03
    assert all(moment < HISTORY_END <= ANCHOR for moment in latest)
    assert refunds[0] >= dt.timedelta(days=1) and refunds[1] <= dt.timedelta(days=20) and refunds[2]
    assert unpaid == 0
    assert pending_span[1] >= 3 and pending_span[0] >= HISTORY_END - dt.timedelta(hours=3)
    assert ids == (True, True, True)


def test_paid_and_refund_dates_are_the_shop_days_in_the_shop_time_zone(seeded):
    """Checked with PostgreSQL's own time zone rules, independently of the seed's conversion."""
    with seeded.connect() as conn:
        wrong = _scalar(
            conn,
            "SELECT count(*) FROM order_events"
            " WHERE paid_date <> (occurred_at AT TIME ZONE 'Europe/Berlin')::date"
            " OR refund_date <> (refunded_at AT TIME ZONE 'Europe/Berlin')::date",
        )
        night = _scalar(
            conn,
            "SELECT avg((extract(hour FROM occurred_at AT TIME ZONE 'Europe/Berlin') BETWEEN 1 AND 5)::int)"
            " FROM order_events WHERE channel = 'web'",
        )
        shop_floor_hours = conn.execute(
            text(
                "SELECT min(extract(hour FROM occurred_at AT TIME ZONE 'Europe/Berlin')),"
                " max(extract(hour FROM occurred_at AT TIME ZONE 'Europe/Berlin'))"
                " FROM order_events WHERE channel = 'retail_pos' AND status <> 'cancelled'"
            )
        ).one()
    assert wrong == 0
    assert night < 0.06, "few people shop online between 1 and 6 at night"
    assert shop_floor_hours == (9, 19), "the shop floor sells during opening hours only"


def test_sessions_keep_conversion_between_1_5_and_4_percent_on_every_day_and_channel(seeded):
    with seeded.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.date, s.channel, s.orders, a.value FROM sales_metrics s FULL JOIN ("
                " SELECT (recorded_at AT TIME ZONE 'Europe/Berlin')::date AS date,"
                " metadata ->> 'channel' AS channel, value FROM analytics_data"
                " WHERE metric_type = 'storefront_sessions') a USING (date, channel)"
            )
        ).all()
    assert len(rows) == 730 * len(CHANNELS)
    rates = [orders / value for _day, _channel, orders, value in rows]
    assert Decimal("0.015") <= min(rates) and max(rates) <= Decimal("0.04")


def test_cohort_retention_looks_like_a_real_shop(seeded):
    """About a quarter of a month's new customers order again the next month, fewer in later
    months; first-time buyers are a minority of the shop's customers once it is established."""
    with seeded.connect() as conn:
        cohorts = conn.execute(
            text(
                "WITH cohort AS (SELECT customer_id, date_trunc('month', first_paid_date) AS month"
                "  FROM customers WHERE first_paid_date IS NOT NULL),"
                " active AS (SELECT DISTINCT customer_id, date_trunc('month', paid_date) AS month"
                "  FROM order_events WHERE paid_date IS NOT NULL)"
                " SELECT c.month, count(DISTINCT c.customer_id),"
                "  count(DISTINCT a.customer_id) FILTER (WHERE a.month = c.month + interval '1 month'),"
                "  count(DISTINCT a.customer_id) FILTER (WHERE a.month = c.month + interval '6 months')"
                " FROM cohort c LEFT JOIN active a USING (customer_id)"
                # Whole months with six later ones inside the history, after the opening months.
                " WHERE c.month BETWEEN DATE '2025-01-01' AND DATE '2026-04-01' GROUP BY 1 ORDER BY 1"
            )
        ).all()
        new_share = _scalar(
            conn,
            "SELECT sum(new_customers)::numeric / sum(total_customers) FROM customer_metrics"
            " WHERE date > DATE '2025-11-26'",
        )
    month_1 = [m1 / size for _month, size, m1, _m6 in cohorts]
    month_6 = [m6 / size for _month, size, _m1, m6 in cohorts]
    assert len(cohorts) == 16
    assert 0.18 <= sum(month_1) / len(month_1) <= 0.32
    assert all(later < first for first, later in zip(month_1, month_6, strict=True))
    assert Decimal("0.15") <= new_share <= Decimal("0.35")


def test_same_seed_gives_the_same_rows(pg_admin_url, engine, database_url, empty_database_url):
    from ecomdesk.db import migrate

    other = make_engine(empty_database_url)
    migrate.upgrade(other)
    queries = [
        "SELECT sku, name, category, supplier, stock, reserved, price, cost FROM inventory_items"
        " ORDER BY sku",
        "SELECT date, channel, revenue, orders, customers FROM sales_metrics ORDER BY date, channel",
        # Every column but the generated id, as one digest per table: the rows are many.
        "SELECT md5(string_agg(row(order_id, customer_id, channel, status, amount, occurred_at, paid_date,"
        " refund_amount, refunded_at, refund_date, metadata, created_at, updated_at)::text, ',' ORDER BY id))"
        " FROM order_events",
        "SELECT md5(string_agg(row(order_id, line_no, sku, quantity, unit_price)::text, ',' ORDER BY id))"
        " FROM order_lines",
        "SELECT md5(string_agg(row(metric_type, value, metadata, recorded_at)::text, ',' ORDER BY id))"
        " FROM analytics_data",
    ]
    try:
        for eng in (engine, other):
            seed_demo_data(eng, hash_password=_fake_hash, today=TODAY, scale=0.2)
        with engine.connect() as a, other.connect() as b:
            for query in queries:
                assert a.execute(text(query)).all() == b.execute(text(query)).all(), query
    finally:
        other.dispose()


def test_seed_without_inventory_makes_orders_without_lines(engine):
    summary = seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1, inventory=0, years=0.5)
    with engine.connect() as conn:
        lines = _scalar(conn, "SELECT count(*) FROM order_lines")
        cheapest = _scalar(conn, "SELECT min(amount) FROM order_events")
        differences = _metric_differences(conn)
    assert summary.counts["order_events"] > 5_000
    assert lines == summary.counts["order_lines"] == 0
    assert cheapest >= Decimal("1.00")
    assert differences == {"sales_metrics": 0, "customer_metrics": 0, "customers": 0}


def test_history_ends_with_the_last_whole_shop_day_in_the_shops_own_time_zone(engine):
    """In Los Angeles the anchor (midnight UTC on the 27th) is 16:00 on the 26th: the 25th is the
    last whole day, and no order or refund lies after it. A time zone already chosen is kept."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE settings SET value = CAST(:zone AS jsonb) WHERE key = 'shop.timezone'"),
            {"zone": json.dumps("America/Los_Angeles")},
        )
    seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1, years=0.25)
    with engine.connect() as conn:
        days = conn.execute(
            text("SELECT min(date), max(date), count(DISTINCT date) FROM sales_metrics")
        ).one()
        latest = _scalar(conn, "SELECT max(greatest(occurred_at, refunded_at)) FROM order_events")
        wrong = _scalar(
            conn,
            "SELECT count(*) FROM order_events"
            " WHERE paid_date <> (occurred_at AT TIME ZONE 'America/Los_Angeles')::date"
            " OR refund_date <> (refunded_at AT TIME ZONE 'America/Los_Angeles')::date",
        )
        differences = _metric_differences(conn)
    # 0.25 years = 91 shop days, ending on the 25th.
    assert days == (dt.date(2026, 8, 27), dt.date(2026, 11, 25), 91)
    assert latest < dt.datetime(2026, 11, 26, 8, tzinfo=dt.UTC)  # midnight starting the 26th in LA
    assert wrong == 0
    assert differences == {"sales_metrics": 0, "customer_metrics": 0, "customers": 0}


def test_years_and_orders_size_the_history_for_benchmarks(engine):
    seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1, years=1.5, orders=30_000)
    with engine.connect() as conn:
        orders = _scalar(conn, "SELECT count(*) FROM order_events")
        days = conn.execute(text("SELECT count(DISTINCT date), count(*) FROM sales_metrics")).one()
    # Poisson noise around 30,000 is about ±170 (one standard deviation).
    assert 29_000 <= orders <= 31_000
    assert days == (548, 548 * len(CHANNELS))  # round(1.5 * 365) shop days, every channel on each


def test_seeding_twice_is_refused_and_reset_allows_it_again(engine):
    seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1)
    with pytest.raises(ValueError, match="already has users"):
        seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1)
    reset_demo_data(engine)
    assert not is_seeded(engine)
    summary = seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1, inventory=20_000)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inventory_items")).scalar_one() == 20_000
        total = conn.execute(text("SELECT sum(price * stock) FROM inventory_items")).scalar_one()
        roles = conn.execute(text("SELECT count(*) FROM roles WHERE is_builtin")).scalar_one()
        orders = conn.execute(text("SELECT count(*) FROM order_events")).scalar_one()
    assert summary.counts["inventory_items"] == 20_000
    assert orders == summary.counts["order_events"], "reset emptied the first seed's orders"
    assert isinstance(total, Decimal) and total > 0
    assert roles == 3, "reset must keep the built-in roles"


def test_demo_stock_history_adds_up_to_each_items_current_levels(engine):
    """Every seeded movement chain ends exactly at the item's row, never dips below zero, and its
    adjustments have matching audit entries — as if the app had recorded them."""
    seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1, inventory=400)
    with engine.connect() as conn:
        items_with_history = conn.execute(
            text("SELECT count(DISTINCT item_id) FROM stock_movements")
        ).scalar_one()
        mismatched = conn.execute(
            text(
                "SELECT count(*) FROM inventory_items i JOIN ("
                " SELECT DISTINCT ON (item_id) item_id, stock_after, reserved_after,"
                "  sum(stock_delta) OVER w AS stock_sum, sum(reserved_delta) OVER w AS reserved_sum"
                " FROM stock_movements WINDOW w AS (PARTITION BY item_id)"
                " ORDER BY item_id, id DESC) m ON m.item_id = i.id"
                " WHERE (i.stock, i.reserved) <> (m.stock_after, m.reserved_after)"
                "    OR (i.stock, i.reserved) <> (m.stock_sum, m.reserved_sum)"
            )
        ).scalar_one()
        broken_chain = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT stock_after, reserved_after, stock_delta, reserved_delta,"
                " lag(stock_after, 1, 0) OVER w AS prev_stock,"
                " lag(reserved_after, 1, 0) OVER w AS prev_reserved"
                " FROM stock_movements WINDOW w AS (PARTITION BY item_id ORDER BY id)) m"
                " WHERE stock_after <> prev_stock + stock_delta"
                "    OR reserved_after <> prev_reserved + reserved_delta"
            )
        ).scalar_one()
        adjustments = conn.execute(
            text("SELECT count(*) FROM stock_movements WHERE kind <> 'opening'")
        ).scalar_one()
        audited = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'inventory.stock_adjusted'")
        ).scalar_one()
    assert items_with_history == 300
    assert mismatched == 0
    assert broken_chain == 0
    assert adjustments == audited > 300


def test_sales_reports_cover_whole_days_before_they_were_requested(seeded):
    with seeded.connect() as conn:
        reports = conn.execute(
            text(
                "SELECT title, parameters, (created_at AT TIME ZONE 'Europe/Berlin')::date FROM reports"
                " WHERE kind = 'sales-summary' ORDER BY id"
            )
        ).all()
    assert len(reports) == 2
    for title, parameters, requested in reports:
        assert dt.date.fromisoformat(parameters["date_to"]) < requested, title
        assert parameters["channels"] == []  # every channel
