"""`customer_periods`, the distinct customers per ISO week and calendar month that `db.metrics`
keeps, against an aggregation written here independently (the weeks and months are worked out in
Python from each paid order's day, the counting is plain SQL over the source tables), on PostgreSQL
and on SQLite (the offline snapshot runs the same code)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, insert, text

from ecomdesk.db import metrics
from ecomdesk.db.models import OrderEvent, metadata

D = dt.date
ROLLED_UP = """
    SELECT granularity, period_start, total_customers, new_customers, returning_customers
    FROM customer_periods ORDER BY 1, 2
"""


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _start(day: dt.date, granularity: str) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if granularity == "week" else day.replace(day=1)


def _expected(conn: Connection) -> list[tuple[str, dt.date, int, int, int]]:
    """Per week and month: the distinct customers paying in it, and those whose earliest paid
    order (over all their orders, read here, not from `customers`) lies in it."""
    pairs = conn.execute(text("SELECT customer_id, paid_date FROM order_events WHERE paid_date IS NOT NULL"))
    paying: dict[tuple[str, dt.date], set[str]] = defaultdict(set)
    first: dict[str, dt.date] = {}
    for customer, raw in pairs:
        day = _date(raw)
        first[customer] = min(first.get(customer, day), day)
        for granularity in ("month", "week"):
            paying[(granularity, _start(day, granularity))].add(customer)
    rows = []
    for (granularity, start), customers in sorted(paying.items()):
        new = sum(1 for c in customers if _start(first[c], granularity) == start)
        rows.append((granularity, start, len(customers), new, len(customers) - new))
    return rows


def _rolled_up(conn: Connection) -> list[tuple[str, dt.date, int, int, int]]:
    return [(g, _date(s), int(t), int(n), int(r)) for g, s, t, n, r in conn.execute(text(ROLLED_UP))]


def _add_order(
    conn: Connection, order_id: str, day: dt.date | None, customer: str, *, channel: str = "web"
) -> None:
    """An order of 10.00 paid on `day` (None: pending)."""
    moment = dt.datetime.combine(day or D(2026, 1, 1), dt.time(10), tzinfo=dt.UTC)
    conn.execute(
        insert(OrderEvent),
        [{
            "order_id": order_id, "customer_id": customer, "channel": channel, "currency": "EUR",
            "status": "paid" if day else "pending", "amount": Decimal("10.00"), "occurred_at": moment,
            "paid_date": day, "meta": {},
        }],
    )  # fmt: skip


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
    # Wednesday 25 Feb 2026 – Sunday 1 March: one ISO week (from Monday 23 Feb) across two months.
    _add_order(conn, "O-1", D(2026, 2, 25), "ann")
    _add_order(conn, "O-2", D(2026, 3, 1), "ann")  # same week, next month: returning in March
    _add_order(conn, "O-3", D(2026, 2, 28), "bob", channel="app")
    _add_order(conn, "O-4", D(2026, 3, 1), "bob")
    _add_order(conn, "O-5", D(2026, 3, 16), "ann")
    _add_order(conn, "O-6", D(2026, 3, 17), "cat")
    _add_order(conn, "O-7", None, "dan")  # pending: counts nowhere


def test_a_rebuild_counts_distinct_and_new_customers_per_week_and_month(db: Engine) -> None:
    with db.begin() as conn:
        _shop(conn)
        metrics.rebuild(conn)
        rolled_up = _rolled_up(conn)
        assert rolled_up == _expected(conn)
    by_key = {(g, s): rest for g, s, *rest in rolled_up}
    # Worked out by hand: the week of 23 Feb has ann and bob, both new, four orders but two
    # customers; so has February; March has ann and bob returning (first paid in February) and cat
    # new; the week of 16 March ann (returning) and cat (new).
    assert by_key[("week", D(2026, 2, 23))] == [2, 2, 0]
    assert by_key[("month", D(2026, 2, 1))] == [2, 2, 0]
    assert by_key[("month", D(2026, 3, 1))] == [3, 1, 2]
    assert by_key[("week", D(2026, 3, 16))] == [2, 1, 1]
    assert ("week", D(2026, 3, 9)) not in by_key  # nobody paid that week: no row


def test_a_refresh_after_a_late_earlier_order_recomputes_the_periods_it_moved(db: Engine) -> None:
    with db.begin() as conn:
        _shop(conn)
        metrics.rebuild(conn)
        untouched = [r for r in _rolled_up(conn) if r[1] == D(2026, 2, 23)]
        # cat's earlier order arrives late, in January: March's and 16 March's cat is now returning.
        _add_order(conn, "O-8", D(2026, 1, 14), "cat")
        # dan's pending order is paid on 18 March.
        conn.execute(text("UPDATE order_events SET status = 'paid', paid_date = :d WHERE order_id = 'O-7'"),
                     {"d": D(2026, 3, 18)})  # fmt: skip
        metrics.refresh(conn, days=[D(2026, 1, 14), D(2026, 3, 18)], customer_ids=["cat", "dan"])
        rolled_up = _rolled_up(conn)
        assert rolled_up == _expected(conn)
        assert [r for r in rolled_up if r[1] == D(2026, 2, 23)] == untouched
        by_key = {(g, s): rest for g, s, *rest in rolled_up}
        assert by_key[("month", D(2026, 1, 1))] == [1, 1, 0]
        assert by_key[("month", D(2026, 3, 1))] == [4, 1, 3]  # ann, bob, cat returning; dan new
        assert by_key[("week", D(2026, 3, 16))] == [3, 1, 2]  # ann, cat returning; dan new


def test_a_refresh_of_a_day_whose_orders_are_gone_drops_an_emptied_period(db: Engine) -> None:
    with db.begin() as conn:
        _shop(conn)
        metrics.rebuild(conn)
        conn.execute(text("DELETE FROM order_events WHERE order_id IN ('O-5', 'O-6')"))
        metrics.refresh(conn, days=[D(2026, 3, 16), D(2026, 3, 17)], customer_ids=["ann", "cat"])
        rolled_up = _rolled_up(conn)
        assert rolled_up == _expected(conn)
        assert ("week", D(2026, 3, 16)) not in {(g, s) for g, s, *_ in rolled_up}
