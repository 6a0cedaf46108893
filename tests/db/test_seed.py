"""Demo data: realistic enough to show, consistent with the constraints, the same every time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from ecomdesk.db.engine import make_engine
from ecomdesk.db.seed import DEMO_ACCOUNTS, is_seeded, reset_demo_data, seed_demo_data

TODAY = dt.date(2026, 11, 27)


def _fake_hash(password: str) -> str:
    return f"not-a-real-hash:{len(password)}"


def test_seed_fills_every_table_with_consistent_rows(engine):
    summary = seed_demo_data(engine, hash_password=_fake_hash, today=TODAY)
    assert is_seeded(engine)
    with engine.connect() as conn:
        for table, count in summary.counts.items():
            if table == "settings":  # the migration already wrote the defaults; the seed adds none
                continue
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == count, table
        emails = dict(
            conn.execute(text("SELECT u.email, r.name FROM users u JOIN roles r ON r.id = u.role_id")).all()
        )
        days = conn.execute(
            text("SELECT min(date), max(date), count(DISTINCT date) FROM sales_metrics")
        ).one()
        aov_mismatch = conn.execute(
            text(
                "SELECT count(*) FROM customer_metrics c JOIN (SELECT date, sum(revenue) AS revenue, "
                "sum(orders) AS orders FROM sales_metrics GROUP BY date) s "
                "USING (date) WHERE abs(c.average_order_value - round(s.revenue / s.orders, 2)) > 0.01"
            )
        ).scalar_one()
        low_stock = conn.execute(
            text("SELECT count(*) FROM inventory_items WHERE stock - reserved <= coalesce(reorder_level, 10)")
        ).scalar_one()
    assert summary.counts["inventory_items"] == 400
    assert all(emails[email] == role for email, role in DEMO_ACCOUNTS)
    assert days[1] == TODAY and days[2] >= 729
    assert aov_mismatch == 0
    assert 0 < low_stock < 400, "the demo should show some low-stock rows, not all"


def test_same_seed_gives_the_same_rows(pg_admin_url, engine, database_url, empty_database_url):
    from ecomdesk.db import migrate

    other = make_engine(empty_database_url)
    migrate.upgrade(other)
    query = text(
        "SELECT sku, name, category, supplier, stock, reserved, price, cost FROM inventory_items ORDER BY sku"
    )
    try:
        for eng in (engine, other):
            seed_demo_data(eng, hash_password=_fake_hash, today=TODAY, scale=0.2)
        with engine.connect() as a, other.connect() as b:
            assert a.execute(query).all() == b.execute(query).all()
            revenue = text("SELECT date, channel, revenue FROM sales_metrics ORDER BY date, channel")
            assert a.execute(revenue).all() == b.execute(revenue).all()
    finally:
        other.dispose()


def test_seeding_twice_is_refused_and_reset_allows_it_again(engine):
    seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1)
    with pytest.raises(ValueError, match="already has users"):
        seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, scale=0.1)
    reset_demo_data(engine)
    assert not is_seeded(engine)
    summary = seed_demo_data(engine, hash_password=_fake_hash, today=TODAY, inventory=20_000)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inventory_items")).scalar_one() == 20_000
        total = conn.execute(text("SELECT sum(price * stock) FROM inventory_items")).scalar_one()
        roles = conn.execute(text("SELECT count(*) FROM roles WHERE is_builtin")).scalar_one()
    assert summary.counts["inventory_items"] == 20_000
    assert isinstance(total, Decimal) and total > 0
    assert roles == 3, "reset must keep the built-in roles"


def test_demo_stock_history_adds_up_to_each_items_current_levels(engine):
    """Every seeded movement chain ends exactly at the item's row, never dips below zero, and its
    adjustments have matching audit entries — as if the app had recorded them."""
    seed_demo_data(engine, hash_password=_fake_hash, today=TODAY)
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
