"""The daily metrics as order imports derive them, against figures worked out by hand in each test.

`sales_metrics(day, channel)`: revenue = payments of the day − refunds of the day; orders and
customers = paid orders of the day and their distinct customers. `customer_metrics(day)`, all
channels: distinct paying customers, new (first paid order ever that day) and returning, and the
average paid order. Days are the shop's calendar days (default zone Europe/Berlin: UTC+1 in
March); every time below is given in UTC, and most are at 10:00, safely inside the same day.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, text

from ecomdesk.db import metrics
from ecomdesk.services.orders import OrderImportResult
from ecomdesk.services.registry import Services
from tests.services.conftest import Staff

HEADER = "order_id,customer_id,channel,amount,currency,status,occurred_at"
D = dt.date


def commit(services: Services, staff: Staff, *lines: str) -> OrderImportResult:
    data = ("\n".join((HEADER, *lines)) + "\n").encode()
    return services.orders.commit(staff.manager, data, "orders.csv")


SALES = "SELECT date, channel, revenue, orders, customers FROM sales_metrics ORDER BY date, channel"
DAILY = (
    "SELECT date, total_customers, new_customers, returning_customers, average_order_value"
    " FROM customer_metrics ORDER BY date"
)
FIRST_DAYS = "SELECT customer_id, first_paid_date FROM customers"


def rows(source: Engine | Connection, query: str) -> list[tuple[Any, ...]]:
    if isinstance(source, Engine):
        with source.connect() as conn:
            return rows(conn, query)
    return [tuple(row) for row in source.execute(text(query))]


def sales(source: Engine | Connection) -> list[tuple[Any, ...]]:
    """(date, channel, revenue, orders, customers) rows."""
    return rows(source, SALES)


def daily(source: Engine | Connection) -> list[tuple[Any, ...]]:
    """(date, total, new, returning, average order value) rows."""
    return rows(source, DAILY)


def first_days(source: Engine | Connection) -> dict[str, dt.date | None]:
    return dict(rows(source, FIRST_DAYS))


def everything(engine: Engine) -> dict[str, list[Any]]:
    """Every row of the derived tables, ids and time stamps included."""
    names = ("order_events", "order_lines", "customers", "sales_metrics", "customer_metrics")
    return {name: rows(engine, f"SELECT * FROM {name} ORDER BY 1") for name in names}


def rebuilt(engine: Engine) -> tuple[list[Any], list[Any], dict[str, dt.date | None]]:
    """The figures `metrics.rebuild` derives from the orders from scratch (rolled back after)."""
    with engine.connect() as conn, conn.begin() as transaction:
        metrics.rebuild(conn)
        figures = (sales(conn), daily(conn), first_days(conn))
        transaction.rollback()
    return figures


def assert_same_as_a_rebuild(engine: Engine) -> None:
    assert (sales(engine), daily(engine), first_days(engine)) == rebuilt(engine)


def test_a_customer_is_new_on_the_day_of_the_first_paid_order_in_any_channel_and_returning_after(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(
        services, staff,
        "A-1,C-1,web,10.00,EUR,paid,2026-03-01T10:00:00Z",
        "A-2,C-1,mobile_app,20.00,EUR,paid,2026-03-01T12:00:00Z",
        "A-3,C-1,web,5.00,EUR,paid,2026-03-02T10:00:00Z",
        "A-4,C-2,web,7.00,EUR,paid,2026-03-02T10:00:00Z",
    )  # fmt: skip
    assert sales(engine) == [
        (D(2026, 3, 1), "mobile_app", Decimal("20.00"), 1, 1),
        (D(2026, 3, 1), "web", Decimal("10.00"), 1, 1),
        (D(2026, 3, 2), "web", Decimal("12.00"), 2, 2),  # 5 + 7, C-1 and C-2
    ]
    assert daily(engine) == [
        # C-1's two orders in two channels: one customer, new that day; (10 + 20) / 2.
        (D(2026, 3, 1), 1, 1, 0, Decimal("15.00")),
        # C-1 returns, C-2 is new; (5 + 7) / 2.
        (D(2026, 3, 2), 2, 1, 1, Decimal("6.00")),
    ]
    assert first_days(engine) == {"C-1": D(2026, 3, 1), "C-2": D(2026, 3, 2)}


def test_a_refund_lowers_revenue_on_the_day_it_happens_and_leaves_the_order_day_alone(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(
        services, staff,
        "R-1,C-1,web,30.00,EUR,paid,2026-03-01T10:00:00Z",
        "R-3,C-3,app,50.00,EUR,paid,2026-03-01T10:00:00Z",
    )  # fmt: skip
    first_day = (sales(engine), daily(engine))
    result = commit(
        services, staff,
        "R-1,C-1,web,30.00,EUR,refunded,2026-03-03T10:00:00Z",
        "R-2,C-2,web,10.00,EUR,paid,2026-03-03T10:00:00Z",
        "R-3,C-3,app,12.50,EUR,refunded,2026-03-03T11:00:00Z",
    )  # fmt: skip
    assert result.days == 1  # only 3 March: the refunds' day and R-2's
    assert sales(engine) == [
        *first_day[0],
        (D(2026, 3, 3), "app", Decimal("-12.50"), 0, 0),  # a refund alone: no paid order that day
        (D(2026, 3, 3), "web", Decimal("-20.00"), 1, 1),  # 10.00 paid − 30.00 refunded
    ]
    assert first_day[0] == [
        (D(2026, 3, 1), "app", Decimal("50.00"), 1, 1),
        (D(2026, 3, 1), "web", Decimal("30.00"), 1, 1),
    ]
    # Refunds are not orders: the customers and the average of 3 March are R-2's alone.
    assert daily(engine) == [*first_day[1], (D(2026, 3, 3), 1, 1, 0, Decimal("10.00"))]
    assert first_day[1] == [(D(2026, 3, 1), 2, 2, 0, Decimal("40.00"))]


def test_the_average_order_value_is_rounded_half_up_to_cents(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(
        services, staff,
        "V-1,C-1,web,10.00,EUR,paid,2026-03-01T10:00:00Z",
        "V-2,C-2,web,10.01,EUR,paid,2026-03-01T10:00:00Z",
    )  # fmt: skip
    # 20.01 / 2 = 10.005: half-up gives 10.01 (rounding half to even would give 10.00).
    assert daily(engine) == [(D(2026, 3, 1), 2, 2, 0, Decimal("10.01"))]


def test_pending_and_cancelled_orders_count_nowhere_until_paid(
    services: Services, staff: Staff, engine: Engine
) -> None:
    first = commit(
        services, staff,
        "P-1,C-1,web,40.00,EUR,pending,2026-03-01T10:00:00Z",
        "X-1,C-2,web,15.00,EUR,cancelled,2026-03-01T10:00:00Z",
    )  # fmt: skip
    assert (first.days, sales(engine), daily(engine)) == (0, [], [])
    assert first_days(engine) == {"C-1": None, "C-2": None}
    commit(services, staff, "P-1,C-1,web,40.00,EUR,paid,2026-03-02T10:00:00Z")
    assert sales(engine) == [(D(2026, 3, 2), "web", Decimal("40.00"), 1, 1)]
    assert daily(engine) == [(D(2026, 3, 2), 1, 1, 0, Decimal("40.00"))]


def test_an_earlier_order_arriving_late_turns_the_later_day_from_new_into_returning(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(services, staff, "L-2,C-1,web,20.00,EUR,paid,2026-03-05T10:00:00Z")
    assert daily(engine) == [(D(2026, 3, 5), 1, 1, 0, Decimal("20.00"))]
    late = commit(services, staff, "L-1,C-1,web,10.00,EUR,paid,2026-03-02T10:00:00Z")
    assert late.days == 2  # 2 March, the new order's day, and 5 March, whose new customer returned
    assert daily(engine) == [
        (D(2026, 3, 2), 1, 1, 0, Decimal("10.00")),
        (D(2026, 3, 5), 1, 0, 1, Decimal("20.00")),
    ]
    assert first_days(engine) == {"C-1": D(2026, 3, 2)}
    assert_same_as_a_rebuild(engine)


def test_a_refund_known_before_its_payment_counts_on_its_day_and_the_payment_on_its_own(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(services, staff, "O-1,C-1,web,8.00,EUR,refunded,2026-03-04T10:00:00Z")
    assert sales(engine) == [(D(2026, 3, 4), "web", Decimal("-8.00"), 0, 0)]
    assert (daily(engine), first_days(engine)) == ([], {"C-1": None})
    commit(services, staff, "O-1,C-1,web,20.00,EUR,paid,2026-03-01T10:00:00Z")
    assert sales(engine) == [
        (D(2026, 3, 1), "web", Decimal("20.00"), 1, 1),
        (D(2026, 3, 4), "web", Decimal("-8.00"), 0, 0),
    ]
    assert daily(engine) == [(D(2026, 3, 1), 1, 1, 0, Decimal("20.00"))]
    assert_same_as_a_rebuild(engine)


def test_events_in_any_order_over_many_imports_give_the_figures_of_a_rebuild(
    services: Services, staff: Staff, engine: Engine
) -> None:
    """Refunds first, late payments, a returning customer's older order last, two channels."""
    for lines in (
        [
            "M-3,C-1,app,15.00,EUR,refunded,2026-03-09T10:00:00Z",
            "M-4,C-2,web,9.00,EUR,pending,2026-03-06T10:00:00Z",
        ],
        ["M-2,C-1,web,25.00,EUR,paid,2026-03-07T10:00:00Z", "M-4,C-2,web,9.00,EUR,paid,2026-03-07T18:00:00Z"],
        [
            "M-3,C-1,app,40.00,EUR,paid,2026-03-08T10:00:00Z",
            "M-1,C-1,web,30.00,EUR,paid,2026-03-03T10:00:00Z",
        ],
    ):
        commit(services, staff, *lines)
    assert sales(engine) == [
        (D(2026, 3, 3), "web", Decimal("30.00"), 1, 1),
        (D(2026, 3, 7), "web", Decimal("34.00"), 2, 2),  # M-2 25.00 + M-4 9.00
        (D(2026, 3, 8), "app", Decimal("40.00"), 1, 1),
        (D(2026, 3, 9), "app", Decimal("-15.00"), 0, 0),
    ]
    assert daily(engine) == [
        (D(2026, 3, 3), 1, 1, 0, Decimal("30.00")),
        (D(2026, 3, 7), 2, 1, 1, Decimal("17.00")),  # C-1 returning, C-2 new; 34 / 2
        (D(2026, 3, 8), 1, 0, 1, Decimal("40.00")),
    ]
    assert_same_as_a_rebuild(engine)


def test_importing_the_same_file_again_leaves_every_table_exactly_as_it_was(
    services: Services, staff: Staff, engine: Engine
) -> None:
    lines = (
        "S-1,C-1,web,10.00,EUR,paid,2026-03-01T10:00:00Z",
        "S-2,C-2,app,20.00,EUR,paid,2026-03-02T10:00:00Z",
        "S-1,C-1,web,4.00,EUR,refunded,2026-03-03T10:00:00Z",
        "S-3,C-1,web,6.00,EUR,pending,2026-03-03T10:00:00Z",
    )
    commit(services, staff, *lines)
    before = everything(engine)
    again = commit(services, staff, *lines)
    assert (again.unchanged, again.days) == (4, 0)
    assert everything(engine) == before


def test_a_shop_day_is_the_shops_own_calendar_day_and_changing_the_zone_moves_it(
    services: Services, staff: Staff, engine: Engine
) -> None:
    services.settings.update_system_settings(staff.admin, {"timezone": "Pacific/Auckland"})
    commit(
        services, staff,
        # Auckland is UTC+13 in March: 11:30Z is 00:30 on 2 March there, 10:30Z still 23:30 on 1 March.
        "T-1,C-1,web,10.00,EUR,paid,2026-03-01T11:30:00Z",
        "T-2,C-2,web,25.00,EUR,paid,2026-03-01T10:30:00Z",
        "T-1,C-1,web,4.00,EUR,refunded,2026-03-05T11:30:00Z",
    )  # fmt: skip
    assert sales(engine) == [
        (D(2026, 3, 1), "web", Decimal("25.00"), 1, 1),
        (D(2026, 3, 2), "web", Decimal("10.00"), 1, 1),
        (D(2026, 3, 6), "web", Decimal("-4.00"), 0, 0),
    ]
    services.settings.update_system_settings(staff.admin, {"timezone": "UTC"})
    # In UTC both payments fall on 1 March and the refund on 5 March.
    with engine.connect() as conn:
        days = conn.execute(
            text("SELECT order_id, paid_date, refund_date FROM order_events ORDER BY 1")
        ).all()
    assert [tuple(d) for d in days] == [("T-1", D(2026, 3, 1), D(2026, 3, 5)), ("T-2", D(2026, 3, 1), None)]
    assert sales(engine) == [
        (D(2026, 3, 1), "web", Decimal("35.00"), 2, 2),
        (D(2026, 3, 5), "web", Decimal("-4.00"), 0, 0),
    ]
    assert daily(engine) == [(D(2026, 3, 1), 2, 2, 0, Decimal("17.50"))]
    assert first_days(engine) == {"C-1": D(2026, 3, 1), "C-2": D(2026, 3, 1)}
    # An order imported now counts on its UTC day.
    commit(services, staff, "T-3,C-1,web,5.00,EUR,paid,2026-03-01T23:30:00Z")
    assert sales(engine)[0] == (D(2026, 3, 1), "web", Decimal("40.00"), 3, 2)
