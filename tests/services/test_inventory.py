"""Inventory items through the service: the field rules and their messages, creating with opening
stock, editing with conflict detection, archiving and deleting, summaries and permissions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from ecomdesk.db.models import InventoryItem, MovementKind, StockMovement
from ecomdesk.services.errors import NotFound, PermissionDenied, ValidationError
from ecomdesk.services.inventory import (
    SKU_TAKEN,
    BadValue,
    InventoryRow,
    ItemConflict,
    ItemFields,
    Removal,
    parse_money,
    parse_units,
    validate_item,
)
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.stock import Adjustment
from tests.services.conftest import MakeUser, Staff, audit_entries, row_count


def fields(sku: str = "LAMP-1", **changes: object) -> ItemFields:
    values: dict[str, object] = {
        "sku": sku,
        "name": "Desk lamp",
        "category": "Lighting",
        "supplier": "Acme",
        "price": Decimal("19.99"),
        "cost": Decimal("8.50"),
        "reorder_level": None,
    }
    values.update(changes)
    return ItemFields(**values)  # type: ignore[arg-type]


def create(
    services: Services, staff: Staff, sku: str = "LAMP-1", stock: int = 0, **changes: object
) -> InventoryRow:
    return services.inventory.create_item(staff.manager, fields(sku, **changes), stock=stock)


# -- field rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", "12.00"), ("12.5", "12.50"), (" 0.99 ", "0.99"), ("999999999.99", "999999999.99")],
)
def test_money_reads_whole_amounts_and_up_to_two_decimals(text: str, expected: str) -> None:
    assert parse_money(text) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Required."),
        ("-1", "Must not be negative."),
        ("12.345", "At most two decimals (cents), e.g. 12.50."),
        ("12,50", "Enter an amount like 12.50 (digits, a point, at most two decimals)."),
        ("1e3", "Enter an amount like 12.50 (digits, a point, at most two decimals)."),
        ("1000000000", "At most 999,999,999.99."),
    ],
)
def test_money_refuses_what_is_not_an_amount_with_a_message_for_the_field(text: str, message: str) -> None:
    with pytest.raises(BadValue, match=message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        parse_money(text)


def test_a_decimal_comma_reads_only_when_the_file_uses_semicolons() -> None:
    assert parse_money("12,50", decimal_comma=True) == Decimal("12.50")


@pytest.mark.parametrize(
    ("text", "message"), [("-3", "Must not be negative."), ("2.5", "whole number"), ("", "Required.")]
)
def test_units_are_whole_non_negative_numbers(text: str, message: str) -> None:
    with pytest.raises(BadValue, match=message):
        parse_units(text)
    assert parse_units("", required=False) is None
    assert parse_units(" 42 ") == 42


def test_every_field_problem_is_reported_at_once() -> None:
    problems = validate_item(
        ItemFields("bad sku!", "", "x" * 101, "Acme", Decimal("-1"), Decimal("2.555"), reorder_level=-1)
    )
    assert set(problems) == {"sku", "name", "category", "price", "cost", "reorder_level"}
    assert problems["category"] == "At most 100 characters."


def test_cost_above_price_is_refused_as_probably_swapped() -> None:
    problems = validate_item(fields(price=Decimal("5.00"), cost=Decimal("9.00")))
    assert set(problems) == {"cost"}
    assert "swapped" in problems["cost"]
    assert validate_item(fields(price=Decimal("5.00"), cost=Decimal("5.00"))) == {}


# -- create -------------------------------------------------------------------------------------


def test_create_normalises_and_records_opening_stock_as_the_first_movement(
    services: Services, staff: Staff, engine: Engine
) -> None:
    row = services.inventory.create_item(
        staff.manager, fields("  lamp-1 ", name="  Desk   lamp "), stock=12, reserved=2
    )
    assert (row.sku, row.name, row.stock, row.reserved, row.available) == ("LAMP-1", "Desk lamp", 12, 2, 10)
    assert row.margin == Decimal("57.5")
    assert row.stock_value == Decimal("102.00")
    history = services.stock.history(staff.viewer, row.id)
    assert [(m.kind, m.stock_delta, m.reserved_delta, m.stock_after, m.actor) for m in history] == [
        (MovementKind.OPENING, 12, 2, 12, "max@shop.example")
    ]
    [entry] = audit_entries(engine, "inventory.item_created")
    assert (
        entry.after is not None and entry.after["sku"] == "LAMP-1" and entry.actor_email == "max@shop.example"
    )


def test_create_without_stock_writes_no_movement(services: Services, staff: Staff, engine: Engine) -> None:
    create(services, staff)
    assert row_count(engine, StockMovement) == 0


def test_create_refuses_a_taken_sku_in_any_letter_case_and_changes_nothing(
    services: Services, staff: Staff, engine: Engine
) -> None:
    create(services, staff, "LAMP-1")
    with pytest.raises(ValidationError) as caught:
        create(services, staff, "lamp-1", stock=5)
    assert caught.value.fields == {"sku": SKU_TAKEN}
    assert row_count(engine, InventoryItem) == 1
    assert row_count(engine, StockMovement) == 0


def test_create_reports_field_and_level_problems_together(services: Services, staff: Staff) -> None:
    with pytest.raises(ValidationError) as caught:
        services.inventory.create_item(staff.manager, fields("", price=Decimal("1.234")), stock=1, reserved=3)
    assert caught.value.fields == {
        "sku": "Required.",
        "price": "At most two decimals (cents), e.g. 12.50.",
        "reserved": "Cannot reserve more than is in stock (3 reserved, 1 in stock).",
    }


def test_sku_taken_checks_other_items_only(services: Services, staff: Staff) -> None:
    row = create(services, staff, "LAMP-1")
    assert services.inventory.sku_taken(staff.viewer, "lamp-1")
    assert not services.inventory.sku_taken(staff.viewer, "lamp-1", except_id=row.id)
    assert not services.inventory.sku_taken(staff.viewer, "LAMP-2")


# -- edit and conflicts -------------------------------------------------------------------------


def test_edit_changes_the_details_and_audits_only_what_changed(
    services: Services, staff: Staff, engine: Engine
) -> None:
    row = create(services, staff, stock=4)
    saved = services.inventory.update_item(
        staff.manager, row.id, fields(price=Decimal("24.00"), reorder_level=3), expected_version=row.version
    )
    assert (saved.price, saved.reorder_level, saved.stock, saved.version) == (
        Decimal("24.00"),
        3,
        4,
        row.version + 1,
    )
    [entry] = audit_entries(engine, "inventory.item_updated")
    assert entry.before == {"price": "19.99", "reorder_level": None}
    assert entry.after == {"price": "24.00", "reorder_level": 3}


def test_an_edit_that_changes_nothing_keeps_the_version(
    services: Services, staff: Staff, engine: Engine
) -> None:
    row = create(services, staff)
    saved = services.inventory.update_item(staff.manager, row.id, fields(), expected_version=row.version)
    assert saved.version == row.version
    assert audit_entries(engine, "inventory.item_updated") == []


def test_an_edit_based_on_an_old_version_is_a_conflict_carrying_their_values(
    services: Services, staff: Staff, make_user: MakeUser
) -> None:
    row = create(services, staff)
    other = make_user("manager")
    services.inventory.update_item(other, row.id, fields(name="Their lamp"), expected_version=row.version)
    mine = fields(price=Decimal("25.00"))
    with pytest.raises(ItemConflict) as caught:
        services.inventory.update_item(staff.manager, row.id, mine, expected_version=row.version)
    conflict = caught.value
    assert conflict.theirs is not None and conflict.theirs.name == "Their lamp"
    assert conflict.yours == mine
    assert services.inventory.get_item(staff.viewer, row.id).price == Decimal("19.99")  # nothing overwritten

    applied = services.inventory.update_item(
        staff.manager, row.id, mine, expected_version=conflict.theirs.version
    )  # re-apply over theirs, knowingly
    assert (applied.name, applied.price) == ("Desk lamp", Decimal("25.00"))


def test_stock_movements_do_not_make_an_open_edit_conflict(services: Services, staff: Staff) -> None:
    row = create(services, staff, stock=5)
    services.stock.adjust(staff.manager, row.id, Adjustment(MovementKind.RECEIVE, 3, "delivery 77"))
    saved = services.inventory.update_item(
        staff.manager, row.id, fields(name="Lamp, brass"), expected_version=row.version
    )
    assert (saved.name, saved.stock) == ("Lamp, brass", 8)


def test_an_edit_of_an_item_deleted_meanwhile_is_a_conflict_without_their_values(
    services: Services, staff: Staff
) -> None:
    row = create(services, staff)
    assert services.inventory.delete_item(staff.admin, row.id) is Removal.DELETED
    with pytest.raises(ItemConflict) as caught:
        services.inventory.update_item(staff.manager, row.id, fields(), expected_version=row.version)
    assert caught.value.theirs is None


def test_edit_to_a_taken_sku_is_refused_on_the_sku_field(services: Services, staff: Staff) -> None:
    create(services, staff, "LAMP-1")
    second = create(services, staff, "LAMP-2")
    with pytest.raises(ValidationError) as caught:
        services.inventory.update_item(
            staff.manager, second.id, fields("Lamp-1"), expected_version=second.version
        )
    assert caught.value.fields == {"sku": SKU_TAKEN}


# -- archive and delete -------------------------------------------------------------------------


def test_delete_of_an_item_that_never_moved_deletes_it_and_its_opening(
    services: Services, staff: Staff, engine: Engine
) -> None:
    row = create(services, staff, stock=3)
    assert services.inventory.delete_item(staff.manager, row.id) is Removal.DELETED
    assert row_count(engine, InventoryItem) == 0
    assert row_count(engine, StockMovement) == 0
    assert len(audit_entries(engine, "inventory.item_deleted")) == 1


def test_delete_of_an_item_with_history_archives_it_and_keeps_the_history(
    services: Services, staff: Staff, engine: Engine
) -> None:
    row = create(services, staff, stock=3)
    services.stock.adjust(staff.manager, row.id, Adjustment(MovementKind.SHIP, 1, "order 1001"))
    assert services.inventory.delete_item(staff.manager, row.id) is Removal.ARCHIVED
    assert services.inventory.table.page(staff.viewer, ListQuery()).total == 0
    archived = services.inventory.table.page(staff.viewer, ListQuery(filters={"archived": True}))
    assert [r.sku for r in archived.rows] == ["LAMP-1"]
    assert len(services.stock.history(staff.viewer, row.id)) == 2
    assert len(audit_entries(engine, "inventory.item_archived")) == 1


def test_restore_brings_an_archived_item_back(services: Services, staff: Staff) -> None:
    row = create(services, staff)
    services.inventory.archive_item(staff.manager, row.id)
    restored = services.inventory.restore_item(staff.manager, row.id)
    assert services.inventory.table.page(staff.viewer, ListQuery()).total == 1
    assert restored.sku == "LAMP-1"


def test_missing_items_are_not_found(services: Services, staff: Staff) -> None:
    with pytest.raises(NotFound):
        services.inventory.get_item(staff.viewer, 999)
    with pytest.raises(NotFound, match="NOPE-1"):
        services.inventory.find_sku(staff.viewer, "nope-1")
    with pytest.raises(NotFound):
        services.inventory.delete_item(staff.manager, 999)


# -- permissions --------------------------------------------------------------------------------


def test_viewers_read_but_cannot_create_edit_archive_or_delete(services: Services, staff: Staff) -> None:
    row = create(services, staff)
    assert services.inventory.get_item(staff.viewer, row.id).sku == "LAMP-1"
    calls: list[Callable[[], object]] = [
        lambda: services.inventory.create_item(staff.viewer, fields("LAMP-2")),
        lambda: services.inventory.update_item(staff.viewer, row.id, fields(), expected_version=row.version),
        lambda: services.inventory.archive_item(staff.viewer, row.id),
        lambda: services.inventory.delete_item(staff.viewer, row.id),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied) as caught:
            call()
        assert caught.value.permission == "inventory.write"


def test_a_role_that_lost_inventory_write_is_refused_at_the_next_call(
    services: Services, staff: Staff, engine: Engine
) -> None:
    from ecomdesk.db.models import Role, role_permissions

    with engine.begin() as conn:
        manager_id = conn.scalar(select(Role.id).where(Role.name == "manager"))
        conn.execute(
            role_permissions.delete().where(
                role_permissions.c.role_id == manager_id,
                role_permissions.c.permission_code == "inventory.write",
            )
        )
    with pytest.raises(PermissionDenied):
        create(services, staff)


# -- summaries ----------------------------------------------------------------------------------


def test_summaries_count_live_items_units_value_and_low_stock_per_group(
    services: Services, staff: Staff, engine: Engine
) -> None:
    create(services, staff, "A-1", stock=10, category="Lighting", cost=Decimal("2.00"))  # 10 > 10? no: low
    create(services, staff, "A-2", stock=50, category="Lighting", cost=Decimal("1.00"))
    create(services, staff, "B-1", stock=100, category="Garden", supplier="Globex", cost=Decimal("3.00"))
    gone = create(services, staff, "B-2", stock=7, category="Garden")
    services.inventory.archive_item(staff.manager, gone.id)
    with Session(engine) as session:  # one item with its own reorder level: low at or below 60
        session.execute(update(InventoryItem).where(InventoryItem.sku == "A-2").values(reorder_level=60))
        session.commit()

    by_category = services.inventory.summary(staff.viewer, "category")
    assert [(g.name, g.items, g.units, g.stock_value, g.low_stock) for g in by_category] == [
        ("Garden", 1, 100, Decimal("300.00"), 0),
        ("Lighting", 2, 60, Decimal("70.00"), 2),
    ]
    by_supplier = services.inventory.summary(staff.viewer, "supplier")
    assert [(g.name, g.items) for g in by_supplier] == [("Globex", 1), ("Acme", 2)]
    with pytest.raises(ValidationError):
        services.inventory.summary(staff.viewer, "colour")  # type: ignore[arg-type]


def test_a_change_made_outside_the_app_is_a_conflict_too(
    services: Services, staff: Staff, engine: Engine
) -> None:
    """Someone fixes a price in psql: the trigger counts it as a new version, so a form opened
    before it cannot overwrite it; a level change alone is no new version but is stamped."""
    row = create(services, staff, stock=5)
    with engine.begin() as conn:
        conn.execute(text("UPDATE inventory_items SET price = 21.00 WHERE id = :id"), {"id": row.id})
    changed = services.inventory.get_item(staff.viewer, row.id)
    assert (changed.price, changed.version) == (Decimal("21.00"), row.version + 1)
    assert changed.last_updated > row.last_updated
    with pytest.raises(ItemConflict) as caught:
        services.inventory.update_item(
            staff.manager, row.id, fields(name="Lamp"), expected_version=row.version
        )
    assert caught.value.theirs is not None and caught.value.theirs.price == Decimal("21.00")

    with engine.begin() as conn:
        conn.execute(text("UPDATE inventory_items SET stock = 9 WHERE id = :id"), {"id": row.id})
    moved = services.inventory.get_item(staff.viewer, row.id)
    assert (moved.stock, moved.version) == (9, changed.version)
    assert moved.last_updated > changed.last_updated


def test_an_edit_through_the_app_bumps_the_version_exactly_once(services: Services, staff: Staff) -> None:
    row = create(services, staff)
    saved = services.inventory.update_item(
        staff.manager, row.id, fields(name="Lamp"), expected_version=row.version
    )
    assert saved.version == row.version + 1
