"""Order import: reading CSV and JSON Lines, the per-row rules, merging an order's events in any
order and any number of times, all or nothing, the preview, permissions, cancellation and a race.

The metric figures the import derives are tested against hand-computed numbers in test_metrics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from ecomdesk.db.engine import libpq_url
from ecomdesk.db.models import Customer, CustomerMetric, OrderEvent, OrderLine, SalesMetric, metadata
from ecomdesk.services import orders as orders_module
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.errors import Conflict, PermissionDenied, ReadOnlyError
from ecomdesk.services.inventory_import import ImportCancelled, ImportFileError, ImportProblem, RowAction
from ecomdesk.services.orders import (
    ORDER_IMPORT_SPEC,
    OrderImportResult,
    OrdersRejected,
)
from ecomdesk.services.registry import Services
from ecomdesk.services.row_table import RowsTable
from tests.services.conftest import Staff, audit_entries, row_count

HEADER = "order_id,customer_id,channel,amount,currency,status,occurred_at"
UTC = dt.UTC


def csv_file(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join((header, *lines)) + "\n").encode()


def jsonl_file(*objects: dict[str, Any]) -> bytes:
    return ("\n".join(json.dumps(o) for o in objects) + "\n").encode()


def commit(services: Services, staff: Staff, *lines: str, header: str = HEADER) -> OrderImportResult:
    return services.orders.commit(staff.manager, csv_file(*lines, header=header), "orders.csv")


def rejected(services: Services, staff: Staff, *lines: str, header: str = HEADER) -> OrderImportResult:
    with pytest.raises(OrdersRejected) as caught:
        commit(services, staff, *lines, header=header)
    return caught.value.result


def orders(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every stored order by id, its columns as the database holds them (ids and stamps left out)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT order_id, customer_id, channel, currency, status, amount, occurred_at, paid_date,"
                " refund_amount, refunded_at, refund_date, metadata FROM order_events ORDER BY order_id"
            )
        ).mappings()
        return {row["order_id"]: dict(row) for row in rows}


def tables(engine: Engine, *, keys: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """The contents of every table the import writes, in a stable order; without `keys`, without
    the surrogate ids and time stamps (which differ between two databases given the same data)."""
    out = {}
    with engine.connect() as conn:
        for model in (OrderEvent, OrderLine, Customer, SalesMetric, CustomerMetric):
            table = metadata.tables[model.__tablename__]
            names = [
                c.name for c in table.columns if keys or c.name not in ("id", "created_at", "updated_at")
            ]
            query = f"SELECT {', '.join(names)} FROM {table.name} ORDER BY {', '.join(names[:3])}"
            out[table.name] = [tuple(row) for row in conn.execute(text(query))]
    return out


def problems_of(result: OrderImportResult) -> list[tuple[int, str | None]]:
    return [(p.line, p.column) for p in result.problems]


# -- storing ----------------------------------------------------------------------------------------


def test_a_paid_order_is_stored_with_its_shop_day_items_and_metadata(
    services: Services, staff: Staff, engine: Engine
) -> None:
    lines = json.dumps(
        [
            {"sku": " toy-1 ", "quantity": 2, "unit_price": "4.50"},
            {"sku": "BK-9", "quantity": 1, "unit_price": 11},
        ]
    )
    data = csv_file(
        f'A-1,C-1,Web,20.00,EUR,PAID,2026-03-01T23:30:00+00:00,"{lines.replace(chr(34), chr(34) * 2)}",'
        '"{""campaign"": ""spring""}"',
        header=HEADER + ",lines,metadata",
    )
    result = services.orders.commit(staff.manager, data, "orders.csv")
    assert (result.created, result.updated, result.unchanged, result.total_rows) == (1, 0, 0, 1)
    stored = orders(engine)["A-1"]
    # 23:30 UTC is 00:30 on 2 March in the shop's default zone, Europe/Berlin (UTC+1 in March).
    assert stored["paid_date"] == dt.date(2026, 3, 2)
    assert (stored["status"], stored["channel"], stored["amount"]) == ("paid", "web", Decimal("20.00"))
    assert stored["occurred_at"] == dt.datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert stored["metadata"] == {"campaign": "spring"}
    with engine.connect() as conn:
        items = conn.execute(
            text("SELECT line_no, sku, quantity, unit_price FROM order_lines ORDER BY line_no")
        ).all()
    assert [tuple(i) for i in items] == [(1, "TOY-1", 2, Decimal("4.50")), (2, "BK-9", 1, Decimal("11.00"))]
    assert result.rows[0].lines == 2 and result.rows[0].action is RowAction.CREATE


def test_pending_and_cancelled_orders_are_stored_unpaid(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(
        services, staff,
        "P-1,C-1,web,10.00,EUR,pending,2026-03-01T10:00:00Z",
        "X-1,C-2,web,12.00,EUR,cancelled,2026-03-01T11:00:00Z",
    )  # fmt: skip
    stored = orders(engine)
    assert (stored["P-1"]["status"], stored["P-1"]["paid_date"]) == ("pending", None)
    assert (stored["X-1"]["status"], stored["X-1"]["paid_date"]) == ("cancelled", None)
    with engine.connect() as conn:
        customers = conn.execute(text("SELECT customer_id, first_paid_date FROM customers ORDER BY 1")).all()
    assert [tuple(c) for c in customers] == [("C-1", None), ("C-2", None)]


# -- merging ----------------------------------------------------------------------------------------

PAID = "O-{n},C-1,web,50.00,EUR,paid,2026-03-01T10:00:00+01:00"
REFUND = "O-{n},C-1,web,20.00,EUR,refunded,2026-03-05T09:00:00Z"
PENDING = "O-{n},C-1,web,45.00,EUR,pending,2026-02-28T18:00:00Z"


def test_events_of_an_order_give_the_same_row_whatever_order_they_arrive_in(
    services: Services, staff: Staff, engine: Engine
) -> None:
    """The six orders of pending, paid and refunded: one file each, all ending with the same row."""
    for n, sequence in enumerate(itertools.permutations((PENDING, PAID, REFUND))):
        for event in sequence:
            commit(services, staff, event.format(n=n))
    stored = list(orders(engine).values())
    assert len(stored) == 6
    expected = {
        "status": "refunded",
        "amount": Decimal("50.00"),
        "occurred_at": dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        "paid_date": dt.date(2026, 3, 1),
        "refund_amount": Decimal("20.00"),
        "refunded_at": dt.datetime(2026, 3, 5, 9, 0, tzinfo=UTC),
        "refund_date": dt.date(2026, 3, 5),
    }
    for row in stored:
        assert {key: row[key] for key in expected} == expected, row["order_id"]


def test_the_events_of_an_order_in_one_file_are_applied_in_file_order(
    services: Services, staff: Staff, engine: Engine
) -> None:
    one_file = commit(services, staff, REFUND.format(n=1), PENDING.format(n=1), PAID.format(n=1))
    assert [row.action for row in one_file.rows] == [RowAction.CREATE, RowAction.UNCHANGED, RowAction.UPDATE]
    assert (one_file.created, one_file.updated, one_file.unchanged) == (1, 1, 1)
    assert one_file.rows[1].changes == "an earlier event: the order is refunded already"
    commit(services, staff, PAID.format(n=2))
    commit(services, staff, REFUND.format(n=2))
    stored = orders(engine)
    assert {k: v for k, v in stored["O-1"].items() if k != "order_id"} == {
        k: v for k, v in stored["O-2"].items() if k != "order_id"
    }


def test_a_refund_before_its_payment_stands_for_the_order_until_the_payment_fills_it_in(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(services, staff, REFUND.format(n=1))
    first = orders(engine)["O-1"]
    assert (first["status"], first["amount"], first["paid_date"]) == ("refunded", Decimal("20.00"), None)
    assert first["occurred_at"] == dt.datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    result = commit(services, staff, PAID.format(n=1))
    assert result.rows[0].action is RowAction.UPDATE
    assert result.rows[0].changes == "payment of 50.00 added to the refunded order"
    then = orders(engine)["O-1"]
    assert (then["status"], then["amount"], then["paid_date"]) == (
        "refunded",
        Decimal("50.00"),
        dt.date(2026, 3, 1),
    )
    assert (then["refund_amount"], then["refund_date"]) == (Decimal("20.00"), dt.date(2026, 3, 5))


def test_pending_then_paid_moves_the_order_forward_and_describes_the_change(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(services, staff, PENDING.format(n=1))
    result = commit(services, staff, PAID.format(n=1))
    assert result.rows[0].changes == "pending → paid, amount 45.00 → 50.00"
    assert (result.updated, orders(engine)["O-1"]["status"]) == (1, "paid")
    later = commit(services, staff, PENDING.format(n=1))
    assert (later.unchanged, later.rows[0].changes) == (1, "an earlier event: the order is paid already")
    assert orders(engine)["O-1"]["amount"] == Decimal("50.00")


def test_the_same_status_with_other_values_is_a_problem_naming_the_field_and_both_values(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(services, staff, PAID.format(n=1))
    before = tables(engine)
    result = rejected(
        services, staff,
        "O-1,C-1,web,55.00,EUR,paid,2026-03-01T10:00:00+01:00",
        "O-1,C-1,web,50.00,EUR,paid,2026-03-01T10:05:00+01:00",
    )  # fmt: skip
    assert result.problems == [
        ImportProblem(2, "amount", "Order O-1 was paid 50.00 (already imported); this row says 55.00."),
        ImportProblem(
            3,
            "occurred_at",
            "Order O-1 was paid at 2026-03-01T09:00:00+00:00 (already imported); this row says "
            "2026-03-01T09:05:00+00:00.",
        ),
    ]
    assert tables(engine) == before


def test_an_event_naming_another_customer_channel_or_currency_than_its_order_is_a_problem(
    services: Services, staff: Staff
) -> None:
    commit(services, staff, PAID.format(n=1))
    result = rejected(
        services, staff,
        "O-1,C-2,web,20.00,EUR,refunded,2026-03-05T09:00:00Z",
        "O-1,C-1,app,20.00,EUR,refunded,2026-03-05T09:00:00Z",
    )  # fmt: skip
    assert problems_of(result) == [(2, "customer_id"), (3, "channel")]
    assert result.problems[0].message == "Order O-1 has customer C-1 (already imported); this row says C-2."


def test_a_refund_larger_than_the_payment_is_refused_whichever_arrives_first(
    services: Services, staff: Staff
) -> None:
    big_refund = "O-{n},C-1,web,60.00,EUR,refunded,2026-03-05T09:00:00Z"
    after = rejected(services, staff, PAID.format(n=1), big_refund.format(n=1))
    assert after.problems == [
        ImportProblem(3, "amount", "This refund of 60.00 is more than the 50.00 paid for order O-1 (line 2).")
    ]
    before = rejected(services, staff, big_refund.format(n=2), PAID.format(n=2))
    assert before.problems == [
        ImportProblem(
            3, "amount", "The refund of order O-2 is 60.00 (line 2), more than this payment of 50.00."
        )
    ]


def test_a_paid_order_is_refunded_not_cancelled_and_a_pending_one_can_be_cancelled(
    services: Services, staff: Staff, engine: Engine
) -> None:
    cancel = "O-{n},C-1,web,45.00,EUR,cancelled,2026-03-02T08:00:00Z"
    result = rejected(services, staff, PAID.format(n=1), cancel.format(n=1))
    assert result.problems == [
        ImportProblem(3, "status", "Order O-1 is paid (line 2); a paid order is refunded, not cancelled.")
    ]
    ok = commit(services, staff, PENDING.format(n=2), cancel.format(n=2))
    assert ok.rows[1].changes == "pending → cancelled"
    assert orders(engine)["O-2"]["status"] == "cancelled"
    again = rejected(services, staff, PAID.format(n=2))
    assert problems_of(again) == [(2, "status")]


def test_items_are_kept_with_the_order_and_other_items_later_are_a_problem(
    services: Services, staff: Staff, engine: Engine
) -> None:
    header = HEADER + ",lines"
    items = '"[{""sku"": ""A-1"", ""quantity"": 1, ""unit_price"": 45}]"'
    other = '"[{""sku"": ""A-1"", ""quantity"": 2, ""unit_price"": 45}]"'
    commit(services, staff, PENDING.format(n=1) + "," + items, header=header)
    same = commit(services, staff, PAID.format(n=1) + "," + items, header=header)
    assert same.rows[0].changes == "pending → paid, amount 45.00 → 50.00"
    result = rejected(
        services, staff, REFUND.format(n=1) + ",", PAID.format(n=1) + "," + other, header=header
    )
    assert result.problems == [
        ImportProblem(
            3,
            "lines",
            "Order O-1 has other items (already imported): 1 × A-1 at 45.00; "
            "this row gives 2 × A-1 at 45.00.",
        )
    ]
    assert row_count(engine, OrderLine) == 1


def test_an_item_sku_is_stored_as_given_backslashes_included_and_one_with_a_tab_is_refused(
    services: Services, staff: Staff, engine: Engine
) -> None:
    order = {**EVENTS[0], "metadata": None}
    odd = {**order, "order_id": "J-8", "lines": [{"sku": "a\\b\\N", "quantity": 1, "unit_price": 30}]}
    tabbed = {**order, "order_id": "J-9", "lines": [{"sku": "a\tb", "quantity": 1, "unit_price": 30}]}
    result = services.orders.preview(staff.manager, jsonl_file(odd, tabbed), "orders.jsonl")
    assert problems_of(result) == [(2, "lines")]
    services.orders.commit(staff.manager, jsonl_file(odd), "orders.jsonl")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sku FROM order_lines")).scalar_one() == "A\\B\\N"


# -- checking rows --------------------------------------------------------------------------------


def test_every_bad_row_is_listed_with_its_line_and_column_and_nothing_is_written(
    services: Services, staff: Staff, engine: Engine
) -> None:
    good = [f"G-{n},C-{n},web,10.00,EUR,paid,2026-03-0{n}T10:00:00Z" for n in range(1, 8)]
    lines = [
        *good[:2],
        "B-1,C-9,web,10.00,EUR,paid,2026-03-01T10:00:00",  # line 4: no offset
        *good[2:5],
        "B-2,C-9,web,-3,EUR,paid,2026-03-01T10:00:00Z",  # line 8: negative
        *good[5:],
        "B-3,C-9,web,10.00,USD,paid,2026-03-01T10:00:00Z",  # line 11: another currency
    ]
    result = rejected(services, staff, *lines)
    assert result.total_rows == 10
    assert result.problems == [
        ImportProblem(4, "occurred_at", "Add the time zone offset, e.g. +01:00 or Z."),
        ImportProblem(8, "amount", "Must not be negative."),
        ImportProblem(
            11,
            "currency",
            "The shop's currency is EUR; this order is in USD. Orders in another currency are not imported.",
        ),
    ]
    assert result.summary == "3 rows have problems; nothing was imported."
    assert {r.line for r in result.rows if r.problems} == {4, 8, 11}
    assert row_count(engine, OrderEvent) == 0 and row_count(engine, Customer) == 0
    assert audit_entries(engine, "orders.imported") == []


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        (",C-1,web,1,EUR,paid,2026-03-01T10:00:00Z", "order_id", "Required."),
        ("O-1,C-1,,1,EUR,paid,2026-03-01T10:00:00Z", "channel", "Required."),
        (f"O-1,{'c' * 65},web,1,EUR,paid,2026-03-01T10:00:00Z", "customer_id", "At most 64 characters."),
        (
            "O-1,C-1,web,1.005,EUR,paid,2026-03-01T10:00:00Z",
            "amount",
            "At most two decimals (cents), e.g. 12.50.",
        ),
        ("O-1,C-1,web,0,EUR,refunded,2026-03-01T10:00:00Z", "amount", "A refund's amount is more than 0.00."),
        (
            "O-1,C-1,web,1,EUR,shipped,2026-03-01T10:00:00Z",
            "status",
            "Use paid, refunded, pending or cancelled.",
        ),
        (
            "O-1,C-1,web,1,EUR,paid,1 March 2026",
            "occurred_at",
            "Use an ISO 8601 time with its offset, e.g. 2026-03-01T10:15:00+01:00.",
        ),
    ],
)
def test_each_field_rule_names_its_column(
    services: Services, staff: Staff, cells: str, column: str, message: str
) -> None:
    assert rejected(services, staff, cells).problems == [ImportProblem(2, column, message)]


def test_lines_and_metadata_that_are_not_what_they_should_be_are_problems_of_their_column(
    services: Services, staff: Staff
) -> None:
    header = HEADER + ",lines,metadata"
    base = "O-{n},C-1,web,1,EUR,{status},2026-03-01T10:00:00Z"
    result = rejected(
        services, staff,
        base.format(n=1, status="paid") + ',"[{""sku"": ""A"", ""quantity"": 0, ""unit_price"": 1}]",',
        base.format(n=2, status="paid") + ',"not json",',
        base.format(n=3, status="paid") + ',,"[1, 2]"',
        base.format(n=4, status="refunded") + ',"[{""sku"": ""A"", ""quantity"": 1, ""unit_price"": 1}]",',
        header=header,
    )  # fmt: skip
    assert result.problems == [
        ImportProblem(2, "lines", "Item 1: the quantity is a whole number from 1 to 1,000,000."),
        ImportProblem(3, "lines", "Not valid JSON: Expecting value at character 1."),
        ImportProblem(4, "metadata", 'A JSON object, e.g. {"campaign": "spring"}.'),
        ImportProblem(
            5,
            "lines",
            "Give an order's items with its paid or pending row; a refund or a cancellation has none.",
        ),
    ]


def test_a_file_without_the_required_columns_is_refused_as_a_whole(services: Services, staff: Staff) -> None:
    with pytest.raises(ImportFileError, match=r"Missing columns: currency\. Unknown columns: price\."):
        services.orders.preview(
            staff.manager,
            b"order_id,customer_id,channel,amount,price,status,occurred_at\n1,2,3,4,5,6,7\n",
            "o.csv",
        )


def test_semicolon_files_with_decimal_commas_and_a_bom_read(
    services: Services, staff: Staff, engine: Engine
) -> None:
    data = b"\xef\xbb\xbf" + csv_file(
        "S-1;C-1;web;12,50;eur;Paid;2026-03-01T10:00:00Z", header=HEADER.replace(",", ";")
    )
    assert services.orders.commit(staff.manager, data, "orders.csv").created == 1
    assert orders(engine)["S-1"]["amount"] == Decimal("12.50")


# -- JSON Lines -----------------------------------------------------------------------------------

EVENTS: list[dict[str, Any]] = [
    {"order_id": "J-1", "customer_id": "C-1", "channel": "web", "amount": 30, "currency": "EUR",
     "status": "paid", "occurred_at": "2026-03-01T10:00:00+01:00",
     "lines": [{"sku": "a-1", "quantity": 3, "unit_price": 10}], "metadata": {"coupon": "X1"}},
    {"order_id": "J-2", "customer_id": "C-2", "channel": "app", "amount": "12.5", "currency": "EUR",
     "status": "pending", "occurred_at": "2026-03-02T10:00:00Z"},
    {"order_id": "J-1", "customer_id": "C-1", "channel": "web", "amount": 5.25, "currency": "EUR",
     "status": "refunded", "occurred_at": "2026-03-03T10:00:00Z"},
    {"order_id": "J-3", "customer_id": "C-1", "channel": "app", "amount": 19.99, "currency": "EUR",
     "status": "paid", "occurred_at": "2026-03-03T22:59:59Z"},
]  # fmt: skip


def _as_csv(events: list[dict[str, Any]]) -> bytes:
    def cell(value: Any) -> str:
        text_ = value if isinstance(value, str) else json.dumps(value)
        return '"' + text_.replace('"', '""') + '"'

    keys = [*HEADER.split(","), "lines", "metadata"]
    return csv_file(*(",".join(cell(e.get(k, "")) for k in keys) for e in events), header=",".join(keys))


def test_json_lines_and_csv_of_the_same_events_give_identical_tables(
    services: Services, staff: Staff, engine: Engine
) -> None:
    from_csv = services.orders.commit(staff.manager, _as_csv(EVENTS), "orders.csv")
    csv_tables = tables(engine, keys=False)
    with engine.begin() as conn:
        for name in ("order_lines", "order_events", "customers", "sales_metrics", "customer_metrics"):
            conn.execute(text(f"DELETE FROM {name}"))
    from_jsonl = services.orders.commit(staff.manager, jsonl_file(*EVENTS), "orders.jsonl")
    assert tables(engine, keys=False) == csv_tables
    assert (from_jsonl.created, from_jsonl.updated, from_jsonl.days) == (
        from_csv.created,
        from_csv.updated,
        from_csv.days,
    )
    assert csv_tables["order_lines"] == [("J-1", 1, "A-1", 3, Decimal("10.00"))]
    assert len(csv_tables["order_events"]) == 3


def test_a_json_lines_file_is_recognised_by_its_content_and_bad_lines_are_problems_of_their_own(
    services: Services, staff: Staff
) -> None:
    data = (
        jsonl_file(EVENTS[0])
        + b"\n"  # a blank line is skipped, but still counted
        + b'["not", "an", "object"]\n'
        + b'{"order_id": "J-9", "oops\n'
        + json.dumps({**EVENTS[1], "order_id": "J-9", "colour": "red", "amount": True}).encode()
    )
    result = services.orders.preview(staff.manager, data, "export.txt")
    assert result.problems == [
        ImportProblem(3, None, "This line is a JSON list, not an object."),
        ImportProblem(4, None, "This line is not a JSON object: Unterminated string starting at column 21."),
        ImportProblem(
            5,
            None,
            "Unknown keys: colour. Expected: order_id, customer_id, channel, amount, currency, status, "
            "occurred_at, and optionally lines, metadata.",
        ),
        ImportProblem(5, "amount", "Give a text or a number."),
    ]
    assert result.total_rows == 4


# -- re-import, preview, result -------------------------------------------------------------------


def test_importing_the_same_file_again_changes_nothing_and_records_nothing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    data = _as_csv(EVENTS)
    first = services.orders.commit(staff.manager, data, "orders.csv")
    assert (first.created, first.updated, first.unchanged) == (3, 1, 0)
    before = tables(engine)
    again = services.orders.commit(staff.manager, data, "orders.csv")
    assert (again.created, again.updated, again.unchanged, again.days) == (0, 0, 4, 0)
    assert again.summary == "4 rows: 0 new, 0 changed, 4 unchanged; metrics of 0 days recomputed."
    assert tables(engine) == before
    entries = audit_entries(engine, "orders.imported")
    assert len(entries) == 1
    assert entries[0].after is not None
    assert entries[0].after["sha256"] == hashlib.sha256(data).hexdigest()
    assert {k: entries[0].after[k] for k in ("rows", "created", "updated", "unchanged", "days")} == {
        "rows": 4, "created": 3, "updated": 1, "unchanged": 0, "days": first.days,
    }  # fmt: skip


def test_the_preview_writes_nothing_and_counts_the_days_the_commit_recomputes(
    services: Services, staff: Staff, engine: Engine
) -> None:
    commit(services, staff, "E-1,C-1,web,10.00,EUR,paid,2026-03-10T10:00:00Z")
    before = tables(engine)
    # C-1's first order was on 10 March; this file adds one on 4 March (which makes 10 March a
    # returning day), a refund on 12 March and C-2's first order on 5 March: 4, 5, 10 and 12 March.
    data = csv_file(
        "E-2,C-1,web,20.00,EUR,paid,2026-03-04T10:00:00Z",
        "E-1,C-1,web,10.00,EUR,refunded,2026-03-12T10:00:00Z",
        "E-3,C-2,app,5.00,EUR,paid,2026-03-05T10:00:00Z",
        "E-4,C-3,app,5.00,EUR,pending,2026-03-06T10:00:00Z",
    )
    preview = services.orders.preview(staff.manager, data, "orders.csv")
    assert (preview.days, preview.dry_run, preview.committed) == (4, True, False)
    assert preview.summary == "4 rows: 3 new, 1 changed, 0 unchanged; metrics of 4 days would be recomputed."
    assert tables(engine) == before
    result = services.orders.commit(staff.manager, data, "orders.csv")
    assert (result.days, result.committed) == (4, True)


def test_the_result_keeps_every_row_with_a_problem_but_only_the_first_few_others(
    services: Services, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_module, "PREVIEW_ROWS", 3)
    lines = [f"K-{n},C-1,web,1.00,EUR,paid,2026-03-01T10:00:00Z" for n in range(10)]
    lines[6] = lines[6].replace("EUR", "GBP")
    lines[8] = lines[8].replace("paid", "lost")
    result = services.orders.preview(staff.manager, csv_file(*lines), "orders.csv")
    assert [row.line for row in result.rows] == [2, 3, 4, 8, 10]
    assert result.total_rows == 10 and result.created == 8
    table = RowsTable(ORDER_IMPORT_SPEC, result.rows)
    assert [c.key for c in ORDER_IMPORT_SPEC.columns if not hasattr(result.rows[0], c.key)] == []
    assert table.spec.count_text(len(result.rows)) == "5 rows"


def _clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in ("order_lines", "order_events", "customers", "sales_metrics", "customer_metrics"):
            conn.execute(text(f"DELETE FROM {name}"))


def test_a_file_written_in_small_batches_while_it_is_read_gives_the_same_tables_as_in_one(
    services: Services, staff: Staff, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit writes each batch's new orders while reading the next: orders moved forward, given
    items or metadata by a later batch are brought up to date at the end."""
    item = '"[{{""sku"": ""{sku}"", ""quantity"": {q}, ""unit_price"": {p}}}]"'
    data = csv_file(
        'B-1,C-1,web,10.00,EUR,pending,2026-03-01T10:00:00Z,,"{""a"": 1}"',
        "B-2,C-2,web,20.00,EUR,paid,2026-03-01T11:00:00Z," + item.format(sku="x", q=2, p=10) + ",",
        # the next batch: B-1, written already, is paid and given items and metadata
        "B-1,C-1,web,12.00,EUR,paid,2026-03-02T10:00:00Z,"
        + item.format(sku="y", q=1, p=12)
        + ',"{""b"": 2}"',
        "B-2,C-2,web,5.00,EUR,refunded,2026-03-04T10:00:00Z,,",
        "B-3,C-1,app,7.00,EUR,refunded,2026-03-05T10:00:00Z,,",
        "B-3,C-1,app,9.00,EUR,paid,2026-03-03T10:00:00Z,,",
        header=HEADER + ",lines,metadata",
    )
    monkeypatch.setattr(orders_module, "_BATCH", 2)
    small = services.orders.commit(staff.manager, data, "orders.csv")
    in_small_batches = tables(engine, keys=False)
    _clear(engine)
    monkeypatch.undo()
    whole = services.orders.commit(staff.manager, data, "orders.csv")
    assert tables(engine, keys=False) == in_small_batches
    assert (
        (small.created, small.updated, small.days) == (whole.created, whole.updated, whole.days) == (3, 3, 5)
    )
    b1 = orders(engine)["B-1"]
    assert (b1["status"], b1["amount"], b1["metadata"]) == ("paid", Decimal("12.00"), {"a": 1, "b": 2})
    assert in_small_batches["order_lines"] == [
        ("B-1", 1, "Y", 1, Decimal("12.00")),
        ("B-2", 1, "X", 2, Decimal("10.00")),
    ]


def test_a_file_found_unreadable_while_earlier_batches_are_being_written_writes_nothing(
    services: Services, staff: Staff, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_module, "_BATCH", 2)
    good = [PAID.format(n=n) + "," for n in range(4)]  # lines 2 to 5, without metadata
    # Line 6: a cell beyond the csv module's field size limit (131,072 characters) cannot be read.
    data = csv_file(*good, PAID.format(n=9) + ',"' + "x" * 200_000 + '"', header=HEADER + ",metadata")
    with pytest.raises(ImportFileError, match="Line 6 cannot be read as CSV"):
        services.orders.commit(staff.manager, data, "orders.csv")
    assert row_count(engine, OrderEvent) == 0 and row_count(engine, OrderLine) == 0
    assert (
        services.orders.commit(staff.manager, csv_file(*good, header=HEADER + ",metadata"), "o.csv").created
        == 4
    )


# -- who, when, and what else happens -------------------------------------------------------------


def test_a_viewer_may_not_import_orders_and_a_manager_may(
    services: Services, staff: Staff, engine: Engine
) -> None:
    data = csv_file(PAID.format(n=1))
    for call in (services.orders.preview, services.orders.commit):
        with pytest.raises(PermissionDenied):
            call(staff.viewer, data, "orders.csv")
    assert row_count(engine, OrderEvent) == 0
    assert services.orders.commit(staff.manager, data, "orders.csv").created == 1


def test_a_read_only_copy_previews_but_does_not_import(engine: Engine, staff: Staff) -> None:
    read_only = Services.from_context(ServiceContext(engine, read_only=True))
    data = csv_file(PAID.format(n=1))
    assert read_only.orders.preview(staff.manager, data, "orders.csv").created == 1
    with pytest.raises(ReadOnlyError):
        read_only.orders.commit(staff.manager, data, "orders.csv")


def test_a_cancelled_import_writes_nothing(services: Services, staff: Staff, engine: Engine) -> None:
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    data = csv_file(PAID.format(n=1), PAID.format(n=2))
    with pytest.raises(ImportCancelled):
        services.orders.commit(staff.manager, data, "orders.csv", cancelled=lambda: True)
    assert row_count(engine, OrderEvent) == 0
    services.orders.commit(staff.manager, data, "orders.csv", progress=progress)
    assert seen[-1] == (4, 4)  # two rows, read and written


@pytest.mark.parametrize(
    "other_change",
    [
        "UPDATE order_events SET status = 'cancelled' WHERE order_id = 'O-1'",
        "INSERT INTO order_events (order_id, customer_id, channel, currency, status, amount, occurred_at)"
        " VALUES ('O-2', 'C-9', 'web', 'EUR', 'pending', 1, now())",
    ],
    ids=["an order it moves forward changed", "an order it creates created"],
)
def test_an_order_someone_else_imports_meanwhile_is_a_conflict_and_this_import_writes_nothing(
    services: Services, staff: Staff, engine: Engine, database_url: str, other_change: str
) -> None:
    commit(services, staff, PENDING.format(n=1))

    def meanwhile() -> bool:
        """Asked once the orders are read and before anything is written: another import acts."""
        with psycopg.connect(libpq_url(database_url), autocommit=True) as other:
            other.execute(other_change)
        return False

    with pytest.raises(Conflict, match="Someone else imported some of these orders"):
        services.orders.commit(
            staff.manager, csv_file(PAID.format(n=1), PAID.format(n=2)), "orders.csv", cancelled=meanwhile
        )
    after = orders(engine)
    # The other change stays; of this import nothing: O-1 is not paid, O-2 (if any) is the other's.
    assert after["O-1"]["status"] != "paid" and after.get("O-2", {}).get("customer_id", "C-9") == "C-9"
    assert len(audit_entries(engine, "orders.imported")) == 1  # the first import's
