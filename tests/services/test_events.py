"""The shop's events for webhooks out: each change writes its event to the outbox in its own
transaction (one delivery and one job per subscribed endpoint), a change that fails writes nothing,
and a shop without subscribers gets no rows at all.

Endpoints are inserted as rows (the Integrations service is tested on its own); what is checked
here is what the services put in `webhook_events`, `webhook_deliveries` and `jobs`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from ecomdesk.db.models import Job, MovementKind, WebhookDelivery, WebhookEndpoint, WebhookEvent
from ecomdesk.services import events
from ecomdesk.services.errors import Conflict, ValidationError
from ecomdesk.services.files import Upload
from ecomdesk.services.inventory import ItemFields, Removal
from ecomdesk.services.inventory_import import ImportRejected
from ecomdesk.services.orders import OrdersRejected, ingest
from ecomdesk.services.registry import Services
from ecomdesk.services.report_kinds import REPORT_KINDS
from ecomdesk.services.reports import ReportRequest
from ecomdesk.services.stock import Adjustment
from ecomdesk.services.users import UserFields
from tests.services.conftest import PASSWORD, Staff, role_id, row_count
from tests.services.test_reports import Numbers

ITEM_HEADER = "sku,name,category,supplier,stock,reserved,price,cost,reorder_level"
ORDER_HEADER = "order_id,customer_id,channel,amount,currency,status,occurred_at"


def subscribe(engine: Engine, *types: str, active: bool = True) -> int:
    """An endpoint hearing `types` (as the Integrations page would store it); its id."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(WebhookEndpoint)
                .values(url="https://hooks.example/in", events=list(types), active=active, secret="s" * 32)
                .returning(WebhookEndpoint.id)
            ).scalar_one()
        )


def outbox(engine: Engine, type_: str | None = None) -> list[dict[str, Any]]:
    """The data of every stored event (of one type), oldest first."""
    stmt = select(WebhookEvent.data).order_by(WebhookEvent.id)
    if type_ is not None:
        stmt = stmt.where(WebhookEvent.type == type_)
    with engine.connect() as conn:
        return list(conn.scalars(stmt))


def types(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(WebhookEvent.type).order_by(WebhookEvent.id)))


def deliveries(engine: Engine) -> list[tuple[str, int]]:
    """(event type, endpoint) of every delivery, with a check that each has its job."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(WebhookEvent.type, WebhookDelivery.endpoint_id, WebhookDelivery.id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .order_by(WebhookDelivery.id)
        ).all()
        jobs = conn.execute(select(Job.queue, Job.payload).order_by(Job.id)).all()
    assert [(queue, payload) for queue, payload in jobs if queue == events.QUEUE] == [
        (events.QUEUE, {"delivery_id": row.id}) for row in rows
    ]
    return [(row.type, row.endpoint_id) for row in rows]


def kite(sku: str = "KITE-1", *, reorder_level: int | None = 5, price: str = "12.50") -> ItemFields:
    return ItemFields(sku, "Kite", "Toys", "Acme", Decimal(price), Decimal("4.00"), reorder_level)


def ship(quantity: int) -> Adjustment:
    return Adjustment(MovementKind.SHIP, quantity, "order")


def receive(quantity: int) -> Adjustment:
    return Adjustment(MovementKind.RECEIVE, quantity, "delivery note 7")


def items_file(*lines: str) -> bytes:
    return ("\n".join((ITEM_HEADER, *lines)) + "\n").encode()


def orders_file(*lines: str) -> bytes:
    return ("\n".join((ORDER_HEADER, *lines)) + "\n").encode()


# -- subscriptions ------------------------------------------------------------------------------


def test_with_no_subscriber_no_change_writes_any_outbox_row(
    services: Services, staff: Staff, engine: Engine
) -> None:
    subscribe(engine, "*", active=False)  # an endpoint switched off hears nothing either
    item = services.inventory.create_item(staff.manager, kite(), stock=10)
    services.inventory.update_item(staff.manager, item.id, kite(reorder_level=50), expected_version=1)
    services.stock.adjust(staff.manager, item.id, ship(8))
    services.importer.commit(staff.manager, items_file("T-1,Top,Toys,Acme,1,0,3.00,1.00,"), "i.csv")
    services.orders.commit(
        staff.manager, orders_file("A-1,C-1,web,20.00,EUR,paid,2026-11-02T10:00:00Z"), "o.csv"
    )
    services.users.create_user(
        staff.admin, UserFields("new@shop.example", "New", "Hire", role_id(engine, "viewer"))
    )

    assert (
        row_count(engine, WebhookEvent) == row_count(engine, WebhookDelivery) == row_count(engine, Job) == 0
    )


def test_an_event_goes_to_every_endpoint_subscribed_to_its_type_or_to_all(
    services: Services, staff: Staff, engine: Engine
) -> None:
    users_hook = subscribe(engine, "user.created")
    everything = subscribe(engine, "*")
    subscribe(engine, "report.completed")

    services.users.create_user(
        staff.admin, UserFields("new@shop.example", "New", "Hire", role_id(engine, "viewer"))
    )

    assert sorted(deliveries(engine)) == sorted([("user.created", users_hook), ("user.created", everything)])


def test_subscribed_names_only_the_types_some_active_endpoint_hears(engine: Engine) -> None:
    subscribe(engine, "user.created", "report.failed")
    subscribe(engine, "order.ingested", active=False)
    with engine.connect() as conn:
        found = events.subscribed(conn, "user.created", "order.ingested", "report.completed")
        assert found == {"user.created"}
        assert not events.has_subscribers(conn, "order.ingested")
    subscribe(engine, "*")
    with engine.connect() as conn:
        assert events.subscribed(conn, "order.ingested", "report.completed") == {
            "order.ingested",
            "report.completed",
        }


# -- user.created ---------------------------------------------------------------------------------


def test_user_created_describes_the_account_and_never_its_password(
    services: Services, staff: Staff, engine: Engine, clock: Any
) -> None:
    subscribe(engine, "user.created")
    account = services.users.create_user(
        staff.admin,
        UserFields("nia@shop.example", "Nia", "North", role_id(engine, "manager")),
        password=PASSWORD,
    )

    [data] = outbox(engine, "user.created")
    assert data == {
        "id": account.user.id,
        "email": "nia@shop.example",
        "role": "manager",
        "first_name": "Nia",
        "last_name": "North",
        "active": True,
        "created_at": account.user.created_at.isoformat(),
    }
    with engine.connect() as conn:
        stored = conn.execute(select(WebhookEvent.occurred_at)).scalar_one()
    assert stored == clock.now
    assert PASSWORD not in json.dumps(data) and "password" not in json.dumps(data)


def test_an_account_refused_after_its_event_was_written_leaves_nothing_in_the_outbox(
    services: Services, staff: Staff, engine: Engine
) -> None:
    subscribe(engine, "user.created")
    fields = UserFields("pic@shop.example", "Pic", "Ture", role_id(engine, "viewer"))
    # The picture is checked after the account (and its event) were written: all of it rolls back.
    with pytest.raises(ValidationError):
        services.users.create_user(staff.admin, fields, picture=Upload(b"not,an\nimage\n", "x.png"))
    with pytest.raises(ValidationError):
        services.users.create_user(
            staff.admin, UserFields("ada@shop.example", "A", "B", role_id(engine, "viewer"))
        )

    assert (
        row_count(engine, WebhookEvent) == row_count(engine, WebhookDelivery) == row_count(engine, Job) == 0
    )


# -- inventory.item.changed -----------------------------------------------------------------------


def test_an_items_life_is_told_as_created_updated_archived_restored_and_deleted(
    services: Services, staff: Staff, engine: Engine, clock: Any
) -> None:
    subscribe(engine, "inventory.item.changed")
    inventory = services.inventory
    item = inventory.create_item(staff.manager, kite(), stock=12, reserved=2)
    clock.advance(minutes=1)
    inventory.update_item(staff.manager, item.id, kite(price="13.00", reorder_level=3), expected_version=1)
    inventory.archive_item(staff.manager, item.id)
    inventory.restore_item(staff.manager, item.id)
    unmoved = inventory.create_item(staff.manager, kite("KITE-2"))
    assert inventory.delete_item(staff.manager, unmoved.id) is Removal.DELETED

    told = outbox(engine, "inventory.item.changed")
    every = ["sku", "name", "category", "supplier", "price", "cost", "reorder_level", "stock", "reserved"]
    assert [(e["change"], e["fields"], e["item"]["sku"]) for e in told] == [
        ("created", every, "KITE-1"),
        ("updated", ["price", "reorder_level"], "KITE-1"),
        ("archived", ["archived"], "KITE-1"),
        ("restored", ["archived"], "KITE-1"),
        ("created", every, "KITE-2"),
        ("deleted", [], "KITE-2"),
    ]  # fmt: skip
    assert told[1]["item"] == {
        "id": item.id,
        "sku": "KITE-1",
        "name": "Kite",
        "category": "Toys",
        "supplier": "Acme",
        "price": "13.00",
        "cost": "4.00",
        "stock": 12,
        "reserved": 2,
        "available": 10,
        "reorder_level": 3,
        "archived": False,
        "updated_at": clock.now.isoformat(),
    }
    assert [e["item"]["archived"] for e in told[2:4]] == [True, False]
    assert told[5]["item"]["id"] == unmoved.id  # the item as it was before it went


def test_every_stock_movement_is_an_item_change_naming_the_levels_that_moved(
    services: Services, staff: Staff, engine: Engine
) -> None:
    item = services.inventory.create_item(staff.manager, kite(reorder_level=None), stock=100)
    subscribe(engine, "inventory.item.changed")
    services.stock.adjust(staff.manager, item.id, receive(5))
    services.stock.adjust(staff.manager, "kite-1", Adjustment(MovementKind.RESERVE, 3, "order A-1"))
    services.stock.adjust(staff.manager, item.id, Adjustment(MovementKind.SHIP, 3, "A-1", from_reserved=True))

    told = outbox(engine, "inventory.item.changed")
    assert [(e["change"], e["fields"], e["item"]["stock"], e["item"]["reserved"]) for e in told] == [
        ("stock", ["stock"], 105, 0),
        ("stock", ["reserved"], 105, 3),
        ("stock", ["stock", "reserved"], 102, 0),
    ]


def test_a_refused_adjustment_writes_no_event(services: Services, staff: Staff, engine: Engine) -> None:
    item = services.inventory.create_item(staff.manager, kite(), stock=2)
    subscribe(engine, "*")
    with pytest.raises(Conflict):
        services.stock.adjust(staff.manager, item.id, ship(3))
    with pytest.raises(ValidationError):
        services.inventory.update_item(staff.manager, item.id, kite(price="-1"), expected_version=1)

    assert row_count(engine, WebhookEvent) == row_count(engine, Job) == 0


# -- inventory.low_stock --------------------------------------------------------------------------


def test_low_stock_is_told_once_per_crossing_not_for_every_movement_while_low(
    services: Services, staff: Staff, engine: Engine
) -> None:
    item = services.inventory.create_item(staff.manager, kite(reorder_level=5), stock=10)
    subscribe(engine, "inventory.low_stock")
    for adjustment in (ship(3), ship(2), ship(1), ship(1), receive(10), ship(9)):
        services.stock.adjust(staff.manager, item.id, adjustment)
    # Available: 7, 5 (crossed), 4, 3, 13 (above again), 4 (crossed again).

    told = outbox(engine, "inventory.low_stock")
    assert [(e["available"], e["reorder_level"], e["item"]["stock"]) for e in told] == [(5, 5, 5), (4, 5, 4)]
    assert deliveries(engine) == [("inventory.low_stock", 1), ("inventory.low_stock", 1)]


def test_reserving_stock_can_cross_the_level_too(services: Services, staff: Staff, engine: Engine) -> None:
    item = services.inventory.create_item(staff.manager, kite(reorder_level=5), stock=10)
    subscribe(engine, "inventory.low_stock")
    services.stock.adjust(staff.manager, item.id, Adjustment(MovementKind.RESERVE, 6, "order A-9"))

    [data] = outbox(engine, "inventory.low_stock")
    assert (data["available"], data["item"]["stock"], data["item"]["reserved"]) == (4, 10, 6)


def test_an_item_without_its_own_level_is_low_at_the_shops_threshold(
    services: Services, staff: Staff, engine: Engine
) -> None:
    services.settings.update_system_settings(staff.admin, {"low_stock_threshold": 7})
    item = services.inventory.create_item(staff.manager, kite(reorder_level=None), stock=10)
    subscribe(engine, "inventory.low_stock")
    services.stock.adjust(staff.manager, item.id, ship(2))  # 8: above 7
    services.stock.adjust(staff.manager, item.id, ship(1))  # 7: low

    [data] = outbox(engine, "inventory.low_stock")
    assert (data["available"], data["reorder_level"], data["item"]["reorder_level"]) == (7, 7, None)


def test_raising_the_reorder_level_above_the_stock_is_a_crossing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    item = services.inventory.create_item(staff.manager, kite(reorder_level=5), stock=20)
    subscribe(engine, "inventory.low_stock", "inventory.item.changed")
    services.inventory.update_item(staff.manager, item.id, kite(reorder_level=25), expected_version=1)
    # Already low: a further raise is no new crossing.
    services.inventory.update_item(staff.manager, item.id, kite(reorder_level=30), expected_version=2)

    assert types(engine) == ["inventory.item.changed", "inventory.low_stock", "inventory.item.changed"]
    [data] = outbox(engine, "inventory.low_stock")
    assert (data["available"], data["reorder_level"]) == (20, 25)


# -- the inventory import -------------------------------------------------------------------------


def test_an_import_tells_each_new_and_changed_item_once_and_skips_the_unchanged(
    services: Services, staff: Staff, engine: Engine
) -> None:
    subscribe(engine, "inventory.item.changed", "inventory.low_stock")
    rows = [f"T-{n},Top {n},Toys,Acme,{10 + n},0,3.00,1.00,5" for n in range(1, 41)]
    services.importer.commit(staff.manager, items_file(*rows), "first.csv")

    first = outbox(engine, "inventory.item.changed")
    assert len(first) == 40 and {e["change"] for e in first} == {"created"}
    assert sorted(e["item"]["sku"] for e in first) == sorted(f"T-{n}" for n in range(1, 41))
    with engine.connect() as conn:  # one statement: one moment for all of them
        assert conn.scalar(select(func.count(func.distinct(WebhookEvent.occurred_at)))) == 1

    rows[0] = "T-1,Top 1,Toys,Acme,4,0,3.00,1.00,5"  # 11 → 4: crosses 5
    rows[1] = "T-2,Top two,Toys,Acme,12,0,3.00,1.00,5"  # renamed
    rows[2] = "T-3,Top 3,Toys,Acme,13,0,3.00,1.00,20"  # level raised above the stock: crosses
    services.importer.commit(staff.manager, items_file(*rows), "second.csv")

    second = outbox(engine, "inventory.item.changed")[40:]
    assert sorted((e["item"]["sku"], e["change"], e["fields"]) for e in second) == [
        ("T-1", "stock", ["stock"]),
        ("T-2", "updated", ["name"]),
        ("T-3", "updated", ["reorder_level"]),
    ]
    low = outbox(engine, "inventory.low_stock")
    assert sorted((e["item"]["sku"], e["available"], e["reorder_level"]) for e in low) == [
        ("T-1", 4, 5),
        ("T-3", 13, 20),
    ]
    assert len(deliveries(engine)) == 40 + 3 + 2


def test_a_rejected_import_writes_no_event(services: Services, staff: Staff, engine: Engine) -> None:
    subscribe(engine, "*")
    with pytest.raises(ImportRejected):
        services.importer.commit(
            staff.manager,
            items_file("T-1,Top,Toys,Acme,1,0,3.00,1.00,", "T-2,,Toys,Acme,1,0,3.00,1.00,"),
            "bad.csv",
        )
    assert row_count(engine, WebhookEvent) == row_count(engine, Job) == 0


# -- reports --------------------------------------------------------------------------------------


@pytest.fixture
def numbers_kind() -> Iterator[Numbers]:
    kind = Numbers()
    REPORT_KINDS[kind.name] = kind
    yield kind
    del REPORT_KINDS[kind.name]


@pytest.mark.usefixtures("numbers_kind")
def test_a_completed_report_is_told_with_its_size_and_requester(
    services: Services, staff: Staff, engine: Engine
) -> None:
    subscribe(engine, "report.completed", "report.failed")
    report = services.reports.request(
        staff.manager, ReportRequest("test-numbers", {"count": 25}, "csv", "Two dozen")
    )
    outcome = services.reports.run_next("test-runner")
    assert outcome is not None and outcome.status == "completed"

    [data] = outbox(engine, "report.completed")
    finished = services.reports.get(staff.manager, report.id)
    assert data == {
        "id": report.id,
        "title": "Two dozen",
        "kind": "test-numbers",
        "format": "csv",
        "row_count": 25,
        "size_bytes": outcome.size_bytes,
        "requested_by": "max@shop.example",
        "finished_at": data["finished_at"],
    }
    assert finished.finished_at is not None
    assert dt.datetime.fromisoformat(data["finished_at"]) == finished.finished_at
    assert outbox(engine, "report.failed") == []


@pytest.mark.usefixtures("numbers_kind")
def test_a_failed_report_is_told_with_its_error(services: Services, staff: Staff, engine: Engine) -> None:
    subscribe(engine, "report.failed")
    report = services.reports.request(
        staff.manager, ReportRequest("test-numbers", {"count": 9, "fail_at": 4})
    )
    outcome = services.reports.run_next("test-runner")
    assert outcome is not None and outcome.status == "failed"

    [data] = outbox(engine, "report.failed")
    assert (data["id"], data["row_count"], data["requested_by"]) == (report.id, None, "max@shop.example")
    assert data["error"] == outcome.error and "division by zero" in data["error"]
    assert deliveries(engine) == [("report.failed", 1)]


# -- order.ingested -------------------------------------------------------------------------------


def test_an_order_import_tells_each_order_it_created_or_changed(
    services: Services, staff: Staff, engine: Engine
) -> None:
    subscribe(engine, "order.ingested")
    services.orders.commit(
        staff.manager,
        orders_file(
            "A-1,C-1,web,20.00,EUR,paid,2026-11-02T10:00:00Z",
            "A-2,C-2,shop,5.50,EUR,pending,2026-11-02T11:00:00Z",
        ),
        "first.csv",
    )
    first = outbox(engine, "order.ingested")
    assert sorted(first, key=lambda e: e["order_id"]) == [
        {
            "order_id": "A-1", "customer_id": "C-1", "status": "paid", "amount": "20.00", "currency": "EUR",
            "channel": "web", "occurred_at": "2026-11-02T10:00:00+00:00",
            "paid_at": "2026-11-02T10:00:00+00:00", "refunded_at": None, "refund_amount": None,
            "source": "import",
        },
        {
            "order_id": "A-2", "customer_id": "C-2", "status": "pending", "amount": "5.50", "currency": "EUR",
            "channel": "shop", "occurred_at": "2026-11-02T11:00:00+00:00", "paid_at": None,
            "refunded_at": None, "refund_amount": None, "source": "import",
        },
    ]  # fmt: skip

    # The same events again and a refund of A-1: only A-1 changed.
    services.orders.commit(
        staff.manager,
        orders_file(
            "A-1,C-1,web,20.00,EUR,paid,2026-11-02T10:00:00Z",
            "A-2,C-2,shop,5.50,EUR,pending,2026-11-02T11:00:00Z",
            "A-1,C-1,web,7.00,EUR,refunded,2026-11-05T09:30:00Z",
        ),
        "second.csv",
    )
    [refund] = outbox(engine, "order.ingested")[2:]
    shown = ("order_id", "status", "paid_at", "refunded_at", "refund_amount")
    assert tuple(refund[key] for key in shown) == (
        "A-1", "refunded", "2026-11-02T10:00:00+00:00", "2026-11-05T09:30:00+00:00", "7.00",
    )  # fmt: skip
    assert len(deliveries(engine)) == 3


def test_orders_taken_in_by_webhook_name_their_source(services: Services, engine: Engine) -> None:
    subscribe(engine, "order.ingested")
    event = {
        "order_id": "W-1", "customer_id": "C-9", "channel": "web", "amount": "12.00", "currency": "EUR",
        "status": "paid", "occurred_at": "2026-11-03T08:00:00Z",
    }  # fmt: skip
    with services.ctx.write(None, None) as uow:
        ingest(uow, [event], source="stripe")

    [data] = outbox(engine, "order.ingested")
    assert (data["order_id"], data["status"], data["source"]) == ("W-1", "paid", "webhook:stripe")


def test_a_rejected_order_file_writes_no_event(services: Services, staff: Staff, engine: Engine) -> None:
    subscribe(engine, "order.ingested")
    with pytest.raises(OrdersRejected):
        services.orders.commit(
            staff.manager,
            orders_file(
                "A-1,C-1,web,20.00,EUR,paid,2026-11-02T10:00:00Z",
                "A-1,C-1,web,30.00,EUR,refunded,2026-11-03T10:00:00Z",  # more than was paid
            ),
            "bad.csv",
        )
    assert row_count(engine, WebhookEvent) == row_count(engine, Job) == 0
