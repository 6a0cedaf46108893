"""`item_sales_daily`, the per-day, per-channel, per-SKU roll-up `db.metrics` keeps, against an
aggregation of the order lines written here independently (plain SQL over the source tables), on
PostgreSQL and on SQLite (the offline snapshot runs the same code)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, insert, text

from ecomdesk.db import metrics
from ecomdesk.db.models import OrderEvent, OrderLine, metadata

D = dt.date

#: What sold per paid day, channel and SKU, straight from the lines of the paid orders.
EXPECTED = """
    SELECT o.paid_date, o.channel, l.sku, count(DISTINCT o.order_id), sum(l.quantity),
           sum(l.quantity * l.unit_price)
    FROM order_lines l JOIN order_events o ON o.order_id = l.order_id
    WHERE o.paid_date IS NOT NULL
    GROUP BY o.paid_date, o.channel, l.sku
    ORDER BY o.paid_date, o.channel, l.sku
"""
ROLLED_UP = "SELECT date, channel, sku, orders, units, revenue FROM item_sales_daily ORDER BY 1, 2, 3"


def _rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    """Rows with money as exact cents (SQLite sums through floats)."""
    return [(*row[:5], Decimal(str(row[5])).quantize(Decimal("0.01"))) for row in conn.execute(text(sql))]


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _add_order(
    conn: Connection,
    order_id: str,
    day: dt.date | None,
    lines: list[tuple[str, int, str]],
    *,
    channel: str = "web",
    customer: str = "C-1",
) -> None:
    """An order paid on `day` (None: pending) with `lines` of (sku, quantity, unit price)."""
    amount = sum((q * Decimal(p) for _sku, q, p in lines), Decimal(0))
    moment = dt.datetime.combine(day or D(2026, 1, 1), dt.time(10), tzinfo=dt.UTC)
    conn.execute(
        insert(OrderEvent),
        [{
            "order_id": order_id, "customer_id": customer, "channel": channel, "currency": "EUR",
            "status": "paid" if day else "pending", "amount": amount, "occurred_at": moment,
            "paid_date": day, "meta": {},
        }],
    )  # fmt: skip
    conn.execute(
        insert(OrderLine),
        [
            {"order_id": order_id, "line_no": n, "sku": sku, "quantity": q, "unit_price": Decimal(p)}
            for n, (sku, q, p) in enumerate(lines, start=1)
        ],
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "postgresql":
        yield request.getfixturevalue("engine")
        return
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _shop(conn: Connection) -> None:
    _add_order(conn, "O-1", D(2026, 3, 1), [("SKU-A", 2, "10.00"), ("SKU-B", 1, "4.50")])
    # The same SKU twice in one order: one order, three units.
    _add_order(conn, "O-2", D(2026, 3, 1), [("SKU-A", 1, "10.00"), ("SKU-A", 2, "9.00")], customer="C-2")
    _add_order(conn, "O-3", D(2026, 3, 1), [("SKU-A", 1, "10.00")], channel="mobile_app")
    _add_order(conn, "O-4", D(2026, 3, 2), [("SKU-B", 3, "4.50")])
    _add_order(conn, "O-5", None, [("SKU-C", 9, "1.00")])  # pending: sold nothing yet


def test_a_rebuild_rolls_up_the_lines_of_paid_orders_by_day_channel_and_sku(db: Engine) -> None:
    with db.begin() as conn:
        _shop(conn)
        metrics.rebuild(conn)
        rolled_up = _rows(conn, ROLLED_UP)
        assert rolled_up == _rows(conn, EXPECTED)
    by_key = {(_date(r[0]), r[1], r[2]): r[3:] for r in rolled_up}
    # Worked out by hand: O-1 and O-2 on the web, 1 March: SKU-A 2 + 1 + 2 units, 20 + 10 + 18.
    assert by_key[(D(2026, 3, 1), "web", "SKU-A")] == (2, 5, Decimal("48.00"))
    assert by_key[(D(2026, 3, 1), "mobile_app", "SKU-A")] == (1, 1, Decimal("10.00"))
    assert by_key[(D(2026, 3, 2), "web", "SKU-B")] == (1, 3, Decimal("13.50"))
    assert not any(sku == "SKU-C" for _day, _channel, sku in by_key)


def test_a_refresh_after_a_late_order_recomputes_that_day_and_leaves_the_others(db: Engine) -> None:
    with db.begin() as conn:
        _shop(conn)
        metrics.rebuild(conn)
        second_day = [r for r in _rows(conn, ROLLED_UP) if _date(r[0]) == D(2026, 3, 2)]
        # A late order for 1 March, and the pending one paid on 1 March too.
        _add_order(conn, "O-6", D(2026, 3, 1), [("SKU-B", 2, "4.50")], customer="C-3")
        conn.execute(text("UPDATE order_events SET status = 'paid', paid_date = :d WHERE order_id = 'O-5'"),
                     {"d": D(2026, 3, 1)})  # fmt: skip
        assert metrics.refresh(conn, days=[D(2026, 3, 1)], customer_ids=["C-3", "C-1"]) >= {D(2026, 3, 1)}
        rolled_up = _rows(conn, ROLLED_UP)
        assert rolled_up == _rows(conn, EXPECTED)
        assert [r for r in rolled_up if _date(r[0]) == D(2026, 3, 2)] == second_day
        by_key = {(_date(r[0]), r[1], r[2]): r[3:] for r in rolled_up}
        assert by_key[(D(2026, 3, 1), "web", "SKU-B")] == (2, 3, Decimal("13.50"))  # O-1 and O-6
        assert by_key[(D(2026, 3, 1), "web", "SKU-C")] == (1, 9, Decimal("9.00"))


def test_a_refresh_of_a_day_whose_orders_are_gone_leaves_no_rows_for_it(db: Engine) -> None:
    with db.begin() as conn:
        _shop(conn)
        metrics.rebuild(conn)
        conn.execute(text("DELETE FROM order_lines WHERE order_id = 'O-4'"))
        conn.execute(text("DELETE FROM order_events WHERE order_id = 'O-4'"))
        metrics.refresh(conn, days=[D(2026, 3, 2)])
        assert _rows(conn, ROLLED_UP) == _rows(conn, EXPECTED)
        assert all(_date(r[0]) != D(2026, 3, 2) for r in _rows(conn, ROLLED_UP))
