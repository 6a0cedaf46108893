"""Stock adjustments through the service: each kind's effect, every refusal with its reason and no
change, counted-level corrections, history, permissions, and concurrent clients on the real server
(final levels equal the sum of accepted deltas; nothing ever below zero)."""

from __future__ import annotations

import random
import threading
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import InventoryItem, MovementKind, StockMovement
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.errors import Conflict, NotFound, PermissionDenied, ServiceError, ValidationError
from ecomdesk.services.inventory import InventoryRow, ItemFields
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.stock import Adjustment
from tests.services.conftest import MakeUser, Staff, audit_entries, row_count

R, S, C, RES, REL = (
    MovementKind.RECEIVE,
    MovementKind.SHIP,
    MovementKind.CORRECT,
    MovementKind.RESERVE,
    MovementKind.RELEASE,
)


def item(
    services: Services, staff: Staff, sku: str = "MUG-1", stock: int = 10, reserved: int = 0
) -> InventoryRow:
    fields = ItemFields(sku, "Mug", "Kitchen", "Acme", Decimal("9.00"), Decimal("3.00"))
    return services.inventory.create_item(staff.manager, fields, stock=stock, reserved=reserved)


def levels(services: Services, staff: Staff, item_id: int) -> tuple[int, int]:
    row = services.inventory.get_item(staff.viewer, item_id)
    return row.stock, row.reserved


@pytest.mark.parametrize(
    ("adjustment", "expected"),
    [
        (Adjustment(R, 5, "delivery"), (15, 2)),
        (Adjustment(S, 3, "order 1"), (7, 2)),
        (Adjustment(S, 2, "order 2", from_reserved=True), (8, 0)),
        (Adjustment(C, -4, "stocktake"), (6, 2)),
        (Adjustment(C, 4, "found a box"), (14, 2)),
        (Adjustment(RES, 8, "order 3"), (10, 10)),
        (Adjustment(REL, 2, "order 3 cancelled"), (10, 0)),
    ],
)
def test_each_kind_moves_stock_and_reservations_as_named(
    services: Services, staff: Staff, adjustment: Adjustment, expected: tuple[int, int]
) -> None:
    row = item(services, staff, stock=10, reserved=2)
    movement = services.stock.adjust(staff.manager, row.id, adjustment)
    assert levels(services, staff, row.id) == expected
    assert (movement.stock_after, movement.reserved_after) == expected
    assert (movement.kind, movement.reason, movement.actor) == (
        adjustment.kind,
        adjustment.reason,
        "max@shop.example",
    )
    assert (movement.stock_delta, movement.reserved_delta) == adjustment.deltas()


@pytest.mark.parametrize(
    ("adjustment", "reason"),
    [
        (
            Adjustment(S, 9, "order"),
            "Cannot ship 9 of MUG-1: only 8 available (10 in stock, 2 reserved).",
        ),
        (
            Adjustment(S, 3, "order", from_reserved=True),
            "Cannot ship 3 reserved units of MUG-1: only 2 are reserved",
        ),
        (Adjustment(RES, 9, "order"), "Cannot reserve 9 of MUG-1: only 8 available"),
        (Adjustment(REL, 3, "order"), "Cannot release 3 of MUG-1: only 2 reserved"),
        (Adjustment(C, -11, "count"), "Cannot take 11 off MUG-1: only 10 in stock"),
        (
            Adjustment(C, -9, "count"),
            "Cannot lower MUG-1's stock to 1: 2 units are reserved. Release them first.",
        ),
    ],
)
def test_a_refused_adjustment_says_why_and_changes_nothing(
    services: Services, staff: Staff, engine: Engine, adjustment: Adjustment, reason: str
) -> None:
    row = item(services, staff, stock=10, reserved=2)
    with pytest.raises(Conflict) as caught:
        services.stock.adjust(staff.manager, "mug-1", adjustment)
    assert caught.value.message.startswith(reason)
    assert levels(services, staff, row.id) == (10, 2)
    assert row_count(engine, StockMovement) == 1  # the opening only
    assert audit_entries(engine, "inventory.stock_adjusted") == []


@pytest.mark.parametrize(
    ("adjustment", "field"),
    [
        (Adjustment(R, 0, "x"), "quantity"),
        (Adjustment(S, -2, "x"), "quantity"),
        (Adjustment(C, 0, "x"), "quantity"),
        (Adjustment(R, 1, "   "), "reason"),
        (Adjustment(R, 1, "x" * 501), "reason"),
        (Adjustment(R, 1, "x", from_reserved=True), "from_reserved"),
        (Adjustment(MovementKind.OPENING, 1, "x"), "kind"),
        (Adjustment(MovementKind.IMPORT, 1, "x"), "kind"),
    ],
)
def test_malformed_adjustments_are_validation_errors_on_their_field(
    services: Services, staff: Staff, adjustment: Adjustment, field: str
) -> None:
    row = item(services, staff)
    with pytest.raises(ValidationError) as caught:
        services.stock.adjust(staff.manager, row.id, adjustment)
    assert field in caught.value.fields


def test_a_counted_level_correction_is_refused_when_stock_moved_since_it_was_read(
    services: Services, staff: Staff
) -> None:
    row = item(services, staff, stock=10)
    services.stock.adjust(staff.admin, row.id, Adjustment(S, 2, "order 7"))  # meanwhile, elsewhere
    counted = Adjustment(C, 12 - 10, "stocktake: counted 12", expected_stock=10)
    with pytest.raises(Conflict, match="stock changed from 10 to 8"):
        services.stock.adjust(staff.manager, row.id, counted)
    assert levels(services, staff, row.id) == (8, 0)
    services.stock.adjust(
        staff.manager, row.id, Adjustment(C, 12 - 8, "stocktake: counted 12", expected_stock=8)
    )
    assert levels(services, staff, row.id) == (12, 0)


def test_archived_and_missing_items_cannot_move(services: Services, staff: Staff) -> None:
    row = item(services, staff)
    services.inventory.archive_item(staff.manager, row.id)
    with pytest.raises(Conflict, match="archived"):
        services.stock.adjust(staff.manager, row.id, Adjustment(R, 1, "x"))
    with pytest.raises(NotFound, match="GHOST-9"):
        services.stock.adjust(staff.manager, "ghost-9", Adjustment(R, 1, "x"))
    with pytest.raises(NotFound):
        services.stock.history(staff.viewer, "ghost-9")


def test_an_adjustment_is_audited_with_the_levels_before_and_after(
    services: Services, staff: Staff, engine: Engine
) -> None:
    row = item(services, staff, stock=10)
    services.stock.adjust(staff.manager, row.id, Adjustment(S, 4, "  order 42 "))
    [entry] = audit_entries(engine, "inventory.stock_adjusted")
    assert entry.entity_id == str(row.id)
    assert entry.before == {"stock": 10, "reserved": 0}
    assert entry.after == {"stock": 6, "reserved": 0, "movement": "ship", "reason": "order 42"}


def test_history_lists_newest_first_and_the_movements_table_filters_by_item(
    services: Services, staff: Staff
) -> None:
    mug = item(services, staff, "MUG-1", stock=5)
    cup = item(services, staff, "CUP-1", stock=5)
    services.stock.adjust(staff.manager, mug.id, Adjustment(R, 5, "delivery 1"))
    services.stock.adjust(staff.manager, cup.id, Adjustment(S, 1, "order 1"))
    services.stock.adjust(staff.manager, mug.id, Adjustment(RES, 2, "order 2"))
    history = services.stock.history(staff.viewer, "mug-1")
    assert [(m.kind_label, m.stock_after, m.reserved_after, m.available_after) for m in history] == [
        ("Reserved", 10, 2, 8),
        ("Received", 10, 0, 10),
        ("Opening stock", 5, 0, 5),
    ]
    table = services.tables["stock_movements"]
    page = table.page(staff.viewer, ListQuery(filters={"kind": "ship"}))
    assert [(m.sku, m.reason) for m in page.rows] == [("CUP-1", "order 1")]
    searched = table.page(staff.viewer, ListQuery(search="delivery"))
    assert [m.sku for m in searched.rows] == ["MUG-1"]


def test_viewers_cannot_adjust_and_a_role_with_only_adjust_can(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    row = item(services, staff)
    with pytest.raises(PermissionDenied) as caught:
        services.stock.adjust(staff.viewer, row.id, Adjustment(R, 1, "x"))
    assert caught.value.permission == "inventory.adjust"
    services.roles.create_role(staff.admin, "Packer", frozenset({"inventory.read", "inventory.adjust"}))
    packer = make_user("Packer")
    services.stock.adjust(packer, row.id, Adjustment(S, 1, "order 5"))
    with pytest.raises(PermissionDenied):
        services.inventory.archive_item(packer, row.id)


# -- concurrency on the real server -------------------------------------------------------------


def _client(database_url: str) -> tuple[Services, Engine]:
    """A client of its own: its own engine and connections, as another staff machine would have."""
    own = make_engine(database_url)
    return Services.from_context(ServiceContext(own)), own


def test_concurrent_clients_lose_no_update_and_never_go_below_zero(
    engine: Engine, database_url: str, services: Services, staff: Staff
) -> None:
    """Twelve clients, each with its own engine (connection pool), hammer three items with random
    receipts, shipments, reservations and releases. Refusals are expected (stock runs out); what
    must hold: every item ends at its opening level plus the deltas of the accepted adjustments,
    the movement log chains exactly, and no level is ever negative."""
    items = [item(services, staff, f"HOT-{n}", stock=5) for n in range(3)]
    accepted: list[tuple[int, int, int]] = []
    refused = 0
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def client(seed: int) -> None:
        nonlocal refused
        own, own_engine = _client(database_url)
        rng = random.Random(seed)
        start.wait()
        for _ in range(25):
            target = rng.choice(items)
            kind = rng.choice([R, S, S, RES, REL])
            adjustment = Adjustment(kind, rng.randint(1, 4), f"client {seed}")
            try:
                own.stock.adjust(staff.manager, target.id, adjustment)
            except Conflict:
                with lock:
                    refused += 1
            except ServiceError as exc:  # pragma: no cover - would be a bug
                failures.append(exc)
            else:
                with lock:
                    accepted.append((target.id, *adjustment.deltas()))
        own_engine.dispose()

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(accepted) + refused == 12 * 25
    assert refused > 0 and len(accepted) > 0  # the run really tested both paths

    with Session(engine) as session:
        for target in items:
            expected_stock = 5 + sum(ds for i, ds, _ in accepted if i == target.id)
            expected_reserved = sum(dr for i, _, dr in accepted if i == target.id)
            current = session.get(InventoryItem, target.id)
            assert current is not None
            assert (current.stock, current.reserved) == (expected_stock, expected_reserved)
            moves = session.scalars(
                select(StockMovement).where(StockMovement.item_id == target.id).order_by(StockMovement.id)
            ).all()
            stock = reserved = 0
            for move in moves:  # each movement starts where the previous one ended
                stock += move.stock_delta
                reserved += move.reserved_delta
                assert (move.stock_after, move.reserved_after) == (stock, reserved)
                assert 0 <= reserved <= stock
            assert (stock, reserved) == (expected_stock, expected_reserved)


def test_many_clients_shipping_the_last_units_never_oversell(
    database_url: str, services: Services, staff: Staff
) -> None:
    """Ten clients each try to ship 1 of the 4 units left at the same moment: exactly four succeed."""
    row = item(services, staff, "LAST-1", stock=4)
    results: list[bool] = []
    start = threading.Barrier(10)

    def client() -> None:
        own, own_engine = _client(database_url)
        start.wait()
        try:
            own.stock.adjust(staff.manager, row.id, Adjustment(S, 1, "flash sale"))
            results.append(True)
        except Conflict:
            results.append(False)
        finally:
            own_engine.dispose()

    threads = [threading.Thread(target=client) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 6 + [True] * 4
    assert levels(services, staff, row.id) == (0, 0)
