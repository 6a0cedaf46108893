"""The analytics tables (the rows behind every dashboard card): what each filter keeps, searching,
choices, refusals of bad filter values, CSV export, and `ecomdesk export` of a daily table."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from ecomdesk.cli import main
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.listing import ListQuery, SortKey
from ecomdesk.services.registry import Services
from tests.services.conftest import Staff
from tests.services.test_analytics import D, event_shop, main_shop, selling_shop, utc

PASSWORD = "the exporting admin's passphrase"


@pytest.fixture
def shop(engine: Engine) -> None:
    (main_shop() + selling_shop() + event_shop()).load(engine)


def rows(services: Services, staff: Staff, name: str, search: str = "", /, **filters: Any) -> list[Any]:
    page = services.tables[name].page(staff.viewer, ListQuery(search, filters, limit=1000))
    assert page.total == len(page.rows)
    return page.rows


pytestmark = pytest.mark.usefixtures("shop")


def test_daily_sales_filter_by_day_range_both_ends_included_and_by_channel(
    services: Services, staff: Staff
) -> None:
    march = rows(services, staff, "sales_metrics", **{"from": D(2026, 3, 4), "to": D(2026, 3, 16)})
    # Newest first, channels in name order within a day; refund-only days have no orders.
    assert [(r.date, r.channel, r.revenue, r.orders, r.customers) for r in march] == [
        (D(2026, 3, 16), "app", Decimal("50.00"), 1, 1),
        (D(2026, 3, 16), "web", Decimal("20.00"), 1, 1),
        (D(2026, 3, 9), "web", Decimal("-10.00"), 0, 0),
        (D(2026, 3, 6), "web", Decimal("-30.00"), 0, 0),
        (D(2026, 3, 5), "web", Decimal("55.00"), 2, 2),  # bob's 25 and l1's 30
        (D(2026, 3, 4), "web", Decimal("60.00"), 1, 1),
    ]
    one = rows(
        services, staff, "sales_metrics", channel="app", **{"from": D(2026, 3, 4), "to": D(2026, 3, 16)}
    )
    both = rows(
        services,
        staff,
        "sales_metrics",
        channel=("app", "web"),
        **{"from": D(2026, 3, 4), "to": D(2026, 3, 16)},
    )
    assert [(r.date, r.channel) for r in one] == [(D(2026, 3, 16), "app")]
    assert len(both) == len(march)


def test_day_filters_read_iso_text_as_the_command_line_passes_it(services: Services, staff: Staff) -> None:
    as_text = rows(services, staff, "sales_metrics", **{"from": "2026-03-16", "to": "2026-03-16"})
    assert [(r.date, r.channel) for r in as_text] == [(D(2026, 3, 16), "app"), (D(2026, 3, 16), "web")]


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("sales_metrics", "from", "16 March"),
        ("sales_metrics", "to", dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC)),
        ("customer_metrics", "from", 20260316),
        ("orders", "paid_from", "yesterday"),
        ("orders", "paid", "yes"),
        ("orders", "channel", ()),
        ("orders", "channel", ("web", 3)),
        ("analytics_events", "recorded_from", dt.datetime(2026, 3, 4)),
        ("analytics_events", "recorded_before", "2026-03-04"),
        ("orders", "colour", "red"),
    ],
)
def test_bad_filter_values_are_refused_with_the_filters_name(
    services: Services, staff: Staff, name: str, key: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as refused:
        services.tables[name].page(staff.viewer, ListQuery(filters={key: value}))
    assert key in refused.value.fields or "filters" in refused.value.fields


def test_daily_customers_filter_by_day(services: Services, staff: Staff) -> None:
    found = rows(services, staff, "customer_metrics", **{"from": D(2026, 3, 16), "to": D(2026, 3, 20)})
    assert [
        (r.date, r.total_customers, r.new_customers, r.returning_customers, r.average_order_value)
        for r in found
    ] == [
        (D(2026, 3, 20), 1, 0, 1, Decimal("45.00")),
        (D(2026, 3, 16), 1, 1, 0, Decimal("35.00")),  # carol's two orders: (50 + 20) / 2
    ]


def test_orders_filter_by_paid_and_refund_days_status_and_channels(services: Services, staff: Staff) -> None:
    def ids(**filters: Any) -> list[str]:
        return sorted(r.order_id for r in rows(services, staff, "orders", **filters))

    assert ids(paid_from=D(2026, 3, 16), paid_to=D(2026, 3, 20)) == ["C-1", "C-2", "D-3"]
    assert ids(paid_from=D(2026, 3, 16), paid_to=D(2026, 3, 20), channel="app") == ["C-1", "D-3"]
    assert ids(refund_from=D(2026, 3, 1), refund_to=D(2026, 3, 31)) == ["B-1", "F-1"]
    assert ids(status="cancelled") == ["E-2"]
    assert ids(status=("pending", "cancelled")) == ["E-1", "E-2", "L-5"]
    unpaid = ids(paid=False)
    assert unpaid == ["E-1", "E-2", "L-5"] and set(ids(paid=True)).isdisjoint(unpaid)
    assert ids(customer_id="alice") == ["A-1", "A-2", "A-3"]


def test_orders_show_when_their_customer_first_paid(services: Services, staff: Staff) -> None:
    [carol] = rows(services, staff, "orders", order_id="C-2")
    assert (carol.customer_id, carol.customer_since, carol.paid_date, carol.amount) == (
        "carol",
        D(2026, 3, 16),
        D(2026, 3, 16),
        Decimal("20.00"),
    )
    [pending] = rows(services, staff, "orders", order_id="E-1")
    assert (pending.status, pending.paid_date, pending.customer_since) == ("pending", None, None)
    [refunded] = rows(services, staff, "orders", order_id="B-1")
    assert (refunded.status, refunded.refund_amount, refunded.refund_date) == (
        "refunded",
        Decimal("10.00"),
        D(2026, 3, 9),
    )


def test_orders_search_order_and_customer_ids_from_their_start(services: Services, staff: Staff) -> None:
    assert sorted(r.order_id for r in rows(services, staff, "orders", "C-")) == ["C-1", "C-2"]
    assert sorted(r.order_id for r in rows(services, staff, "orders", "car")) == ["C-1", "C-2"]
    assert sorted(r.order_id for r in rows(services, staff, "orders", "CAR")) == ["C-1", "C-2"]
    assert rows(services, staff, "orders", "arol") == []  # from the start of the code, not anywhere


def test_order_lines_carry_their_orders_channel_and_paid_day(services: Services, staff: Staff) -> None:
    lines = rows(services, staff, "order_lines", paid_from=D(2026, 3, 31), paid_to=D(2026, 4, 29))
    assert sorted((r.order_id, r.sku, r.quantity, r.total, r.channel) for r in lines) == [
        ("L-2", "CUP", 1, Decimal("3.00"), "app"),
        ("L-2", "MUG", 2, Decimal("10.00"), "app"),
        ("L-3", "PEN", 5, Decimal("5.00"), "web"),
    ]
    assert [r.order_id for r in rows(services, staff, "order_lines", sku="PEN", channel=("web",))] == [
        "L-3",
        "L-1",
    ]
    assert {r.sku for r in rows(services, staff, "order_lines", "mu")} == {"MUG"}


def test_events_filter_by_moments_metric_and_their_metadata_channel(services: Services, staff: Staff) -> None:
    berlin_4_march = {"recorded_from": "2026-03-04T00:00:00+01:00", "recorded_before": utc(2026, 3, 4, 23)}
    found = rows(services, staff, "analytics_events", **berlin_4_march)
    assert sorted((r.metric_type, r.value, r.channel) for r in found) == [
        ("page_view", Decimal("1"), "web"),
        ("storefront_sessions", Decimal("10"), "web"),
        ("storefront_sessions", Decimal("40"), "web"),
    ]
    sessions = rows(services, staff, "analytics_events", metric_type="storefront_sessions", channel="app")
    assert [(r.value, r.recorded_at) for r in sessions] == [(Decimal("25"), utc(2026, 3, 4, 23, 30))]
    signups = rows(services, staff, "analytics_events", metric_type=("signup",))
    assert [(r.channel, '"source": "checkout"' in r.details) for r in signups] == [(None, True)]


def test_choices_offer_the_channels_statuses_and_metrics_present(services: Services, staff: Staff) -> None:
    tables = services.tables
    assert [c.value for c in tables["sales_metrics"].choices(staff.viewer, "channel")] == ["app", "web"]
    assert [c.value for c in tables["orders"].choices(staff.viewer, "status")] == [
        "pending",
        "paid",
        "refunded",
        "cancelled",
    ]
    assert [c.value for c in tables["analytics_events"].choices(staff.viewer, "metric_type")] == [
        "page_view",
        "signup",
        "storefront_sessions",
    ]


def test_orders_export_days_as_iso_and_amounts_as_plain_numbers(services: Services, staff: Staff) -> None:
    out = io.BytesIO()
    query = ListQuery(filters={"order_id": ("B-1", "E-1")}, sort=(SortKey("order_id"),))
    assert services.tables["orders"].export_csv(staff.viewer, query, out) == 2
    lines = list(csv.reader(io.StringIO(out.getvalue().decode())))
    assert lines[0] == [
        "Order",
        "Customer",
        "Channel",
        "Status",
        "Amount",
        "Refund",
        "Placed",
        "Paid on",
        "Refunded on",
    ]
    assert lines[1] == [
        "B-1",
        "bob",
        "web",
        "refunded",
        "25.00",
        "10.00",
        "2026-03-05T11:00:00Z",
        "2026-03-05",
        "2026-03-09",
    ]
    assert lines[2][3:] == ["pending", "99.00", "", "2026-03-01T11:00:00Z", "", ""]


def test_the_command_line_exports_daily_sales_of_a_day_range(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    create = ["user", "create", "--database-url", database_url, "--email", "boss@shop.example"]
    assert main([*create, "--role", "admin", "--password-stdin"]) == 0
    out = tmp_path / "march.csv"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = ["sales_metrics", "--out", str(out), "--filter", "from=2026-03-16", "--filter", "to=2026-03-20"]
    acting = ["--database-url", database_url, "--user", "boss@shop.example", "--password-stdin"]
    assert main(["export", *args, *acting]) == 0
    assert list(csv.reader(out.open(newline="", encoding="utf-8"))) == [
        ["Day", "Channel", "Revenue", "Orders", "Customers"],
        ["2026-03-20", "app", "45.00", "1", "1"],
        ["2026-03-16", "app", "50.00", "1", "1"],
        ["2026-03-16", "web", "20.00", "1", "1"],
    ]
