"""The inventory page end to end on a real database: the grid with low stock marked and the selected
item beside it, creating and editing items with every message next to its field, someone else's
change compared instead of overwritten, stock adjustments (and the service's refusals) with the
history below, deleting versus archiving, archived items, and what each role is (not) offered."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStyleOptionViewItem,
    QTableWidgetItem,
)
from pytestqt.qtbot import QtBot

from ecomdesk.db.models import MovementKind
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import NotFound
from ecomdesk.services.inventory import SKU_TAKEN, InventoryRow, ItemFields
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.stock import Adjustment
from ecomdesk.ui.grid import RowStyleRole
from ecomdesk.ui.pages import page_spec
from ecomdesk.ui.pages.inventory import ARCHIVED_NO_STOCK, AvailableDelegate, InventoryPage
from ecomdesk.ui.pages.item_dialogs import ConflictDialog, ItemDialog
from ecomdesk.ui.pages.stock_dialogs import AdjustDialog
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import tint
from tests.services.conftest import Staff

WAIT_MS = 15_000
D = TypeVar("D", ItemDialog, AdjustDialog)
OpenPage = Callable[[Actor], InventoryPage]


@pytest.fixture
def open_page(qtbot: QtBot, services: Services, runner: TaskRunner) -> OpenPage:
    windows: list[QMainWindow] = []

    def open_(actor: Actor) -> InventoryPage:
        page = InventoryPage(AppSession(services, actor, runner, database_label="test"))
        window = QMainWindow()
        window.setCentralWidget(page)
        window.resize(1300, 800)
        qtbot.addWidget(window)
        windows.append(window)  # qtbot keeps only a weak reference
        window.show()
        page.page_shown()
        qtbot.waitUntil(
            lambda: page.grid.model.is_loaded and page.shop_threshold is not None, timeout=WAIT_MS
        )
        return page

    return open_


def _item(
    services: Services,
    staff: Staff,
    sku: str,
    name: str,
    *,
    stock: int = 20,
    reserved: int = 0,
    reorder_level: int | None = None,
    category: str = "Kitchen",
) -> InventoryRow:
    fields = ItemFields(sku, name, category, "Acme", Decimal("9.00"), Decimal("3.00"), reorder_level)
    return services.inventory.create_item(staff.manager, fields, stock=stock, reserved=reserved)


def _rows(page: InventoryPage) -> list[InventoryRow]:
    model = page.grid.model
    return [model.record(row) for row in range(model.rowCount())]


def _select(qtbot: QtBot, page: InventoryPage, sku: str) -> InventoryRow:
    qtbot.waitUntil(lambda: page.grid.model.is_loaded and not page.grid.model.is_busy, timeout=WAIT_MS)
    for row, record in enumerate(_rows(page)):
        if record is not None and record.sku == sku:
            page.grid.view.setFocus()
            page.grid.view.selectRow(row)
            assert page.current is not None and page.current.sku == sku
            return page.current
    raise AssertionError(f"{sku} is not in the grid")


def _dialog(qtbot: QtBot, page: InventoryPage, kind: type[D]) -> D:
    qtbot.waitUntil(lambda: any(d.isVisible() for d in page.findChildren(kind)), timeout=WAIT_MS)
    dialog = [d for d in page.findChildren(kind) if d.isVisible()][-1]
    qtbot.waitUntil(lambda: getattr(dialog, "loaded", True) and not dialog.busy.isVisible(), timeout=WAIT_MS)
    return dialog


def _save(qtbot: QtBot, dialog: ItemDialog | AdjustDialog) -> None:
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.busy.isVisible(), timeout=WAIT_MS)


def _errors(dialog: ItemDialog | AdjustDialog) -> dict[str, str]:
    return {name: field.message for name, field in dialog.fields.items() if field.message}


def _conflict(qtbot: QtBot, dialog: ItemDialog) -> ConflictDialog:
    qtbot.waitUntil(
        lambda: dialog.conflict_dialog is not None and dialog.conflict_dialog.isVisible(), timeout=WAIT_MS
    )
    assert dialog.conflict_dialog is not None
    return dialog.conflict_dialog


def _cell(conflict: ConflictDialog, row: int, column: int) -> QTableWidgetItem:
    item = conflict.table.item(row, column)
    assert item is not None
    return item


def _cells(conflict: ConflictDialog) -> dict[str, list[str]]:
    """Each field's row of the comparison, by the field's label."""
    columns = range(1, conflict.table.columnCount())
    return {
        _cell(conflict, row, 0).text(): [_cell(conflict, row, c).text() for c in columns]
        for row in range(conflict.table.rowCount())
    }


def _confirm(qtbot: QtBot, page: InventoryPage, button_text: str) -> None:
    qtbot.waitUntil(lambda: any(b.isVisible() for b in page.findChildren(QMessageBox)), timeout=WAIT_MS)
    box = [b for b in page.findChildren(QMessageBox) if b.isVisible()][-1]
    (button,) = [b for b in box.buttons() if b.text() == button_text]
    button.click()


def _fill(dialog: ItemDialog, **values: str) -> None:
    for key, text in values.items():
        widget = getattr(dialog, key)
        if key in ("category", "supplier"):
            widget.setEditText(text)
        else:
            widget.setText(text)


# -- the list and the selected item ------------------------------------------------------------------


def test_low_stock_rows_are_marked_and_the_panel_shows_levels_with_the_threshold_that_applies(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    _item(services, staff, "LOW-1", "A low mug", stock=12, reserved=4)  # 8 available ≤ shop default 10
    _item(services, staff, "OK-1", "B plenty", stock=90)
    _item(services, staff, "OWN-1", "C own level", stock=40, reorder_level=50)
    page = open_page(staff.viewer)
    assert [r.sku for r in _rows(page)] == ["LOW-1", "OK-1", "OWN-1"]
    styles = [page.grid.model.index(row, 0).data(RowStyleRole) for row in range(3)]
    assert styles == ["attention", None, "attention"]

    available = page.grid.model.column_index("available")
    delegate = page.grid.view.itemDelegateForColumn(available)
    assert isinstance(delegate, AvailableDelegate)
    low, healthy = QStyleOptionViewItem(), QStyleOptionViewItem()
    delegate.initStyleOption(low, page.grid.model.index(0, available))
    delegate.initStyleOption(healthy, page.grid.model.index(1, available))
    assert low.font.bold() and not healthy.font.bold()
    assert low.palette.color(QPalette.ColorRole.Text) != healthy.palette.color(QPalette.ColorRole.Text)

    _select(qtbot, page, "LOW-1")
    panel = page.panel
    assert (panel.name.text(), panel.sku.text()) == ("A low mug", "LOW-1")
    values = {key: label.text() for key, label in panel.values.items()}
    assert (values["stock"], values["reserved"], values["available"]) == ("12", "4", "8")
    assert values["threshold"] == "10 (shop default)"
    assert (values["price"], values["cost"], values["margin"], values["stock_value"]) == (
        "9.00",
        "3.00",
        "66.7%",
        "36.00",
    )
    assert panel.state.text() == "Low stock: 8 available, at or below 10 (shop default)."
    _select(qtbot, page, "OWN-1")
    assert panel.values["threshold"].text() == "50 (this item's reorder level)"
    _select(qtbot, page, "OK-1")
    assert panel.state.isHidden()

    qtbot.waitUntil(
        lambda: page.history.grid is not None and page.history.grid.model.is_loaded, timeout=WAIT_MS
    )
    assert page.history.title.text() == "Stock history of OK-1"
    history = page.history.grid
    assert history is not None and history.model.rowCount() == 1
    assert (history.model.record(0).kind_label, history.model.record(0).stock_after) == ("Opening stock", 90)


def test_the_low_stock_filter_and_the_search_narrow_the_list(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    _item(services, staff, "LOW-1", "Low mug", stock=2)
    _item(services, staff, "OK-1", "Plenty of plates", stock=90)
    _item(services, staff, "OK-2", "Plenty of cups", stock=90, category="Cups")
    page = open_page(staff.viewer)
    page.grid.set_filter("low_stock", True)
    qtbot.waitUntil(lambda: [r.sku for r in _rows(page)] == ["LOW-1"], timeout=WAIT_MS)
    page.grid.set_filter("low_stock", False)
    qtbot.waitUntil(lambda: [r.sku for r in _rows(page)] == ["OK-2", "OK-1"], timeout=WAIT_MS)
    page.grid.set_filter("low_stock", None)
    page.grid.search.setText("cups")
    qtbot.waitUntil(lambda: [r.sku for r in _rows(page)] == ["OK-2"], timeout=WAIT_MS)


# -- creating and editing ------------------------------------------------------------------------------


def test_a_new_item_with_problems_says_each_next_to_its_field_and_keeps_every_input(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    _item(services, staff, "MUG-1", "Mug")
    page = open_page(staff.manager)
    QTest.keySequence(page.grid.view, "Ctrl+N")
    dialog = _dialog(qtbot, page, ItemDialog)
    assert dialog.windowTitle() == "New item"
    assert [dialog.category.itemText(i) for i in range(dialog.category.count())] == ["Kitchen"]
    _fill(dialog, sku="bad sku", name="Lamp", category="Lights", supplier="Acme", price="-1", cost="2.505")
    assert dialog.stock is not None and dialog.reserved is not None
    dialog.stock.setValue(2)
    dialog.reserved.setValue(5)
    _save(qtbot, dialog)
    assert _errors(dialog) == {
        "sku": "Use letters, digits and . _ / - only, starting with a letter or digit (e.g. ELEC-000123).",
        "price": "Must not be negative.",
        "cost": "At most two decimals (cents), e.g. 12.50.",
        "reserved": "Cannot reserve more than is in stock (5 reserved, 2 in stock).",
    }
    assert dialog.isVisible() and "Nothing was saved" in dialog.status.text()
    assert dialog.focusWidget() is dialog.sku  # the first field with a problem

    _fill(dialog, sku="mug-1", price="5.00", cost="7.00")
    dialog.reserved.setValue(1)
    _save(qtbot, dialog)
    assert _errors(dialog) == {
        "cost": "The cost (7.00) is above the price (5.00): every sale would lose money. "
        "Check that the two are not swapped."
    }
    _fill(dialog, cost="2.00")
    _save(qtbot, dialog)  # now the service decides: the SKU is taken (any letter case)
    assert _errors(dialog) == {"sku": SKU_TAKEN}
    assert (dialog.sku.text(), dialog.name.text(), dialog.category.currentText(), dialog.price.text()) == (
        "mug-1",
        "Lamp",
        "Lights",
        "5.00",
    )
    assert (dialog.stock.value(), dialog.reserved.value()) == (2, 1)
    assert dialog.isVisible()
    assert services.inventory.table.page(staff.admin, ListQuery()).total == 1

    _fill(dialog, sku="lamp-1")
    _save(qtbot, dialog)
    assert not dialog.isVisible()
    created = services.inventory.find_sku(staff.admin, "LAMP-1")
    assert (created.name, created.category, created.price, created.stock, created.reserved) == (
        "Lamp",
        "Lights",
        Decimal("5.00"),
        2,
        1,
    )
    assert page.status.text() == "Created LAMP-1 — Lamp (Stock 2 · Reserved 1 · Available 1)."
    qtbot.waitUntil(lambda: page.current is not None and page.current.sku == "LAMP-1", timeout=WAIT_MS)


def test_leaving_a_field_checks_it_at_once_including_whether_the_sku_is_taken(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    _item(services, staff, "MUG-1", "Mug")
    page = open_page(staff.admin)
    page.new_item()
    dialog = _dialog(qtbot, page, ItemDialog)
    dialog.sku.setFocus()
    QTest.keyClicks(dialog.sku, "mug-1")
    dialog.name.setFocus()  # leaving the SKU: its format is fine, the database says it is taken
    qtbot.waitUntil(lambda: dialog.fields["sku"].message == SKU_TAKEN, timeout=WAIT_MS)
    dialog.price.setFocus()
    assert dialog.fields["name"].message == ""  # only passed through: no "Required." while tabbing
    QTest.keyClicks(dialog.price, "4")
    dialog.cost.setFocus()
    QTest.keyClicks(dialog.cost, "5")
    dialog.name.setFocus()
    assert dialog.fields["cost"].message.startswith("The cost (5.00) is above the price (4.00)")
    assert dialog.margin.text() == "-25.0% · -1.00 per unit sold"


def test_editing_saves_and_the_list_and_panel_show_the_new_values(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    mug = _item(services, staff, "MUG-1", "Mug", stock=7, reserved=2)
    page = open_page(staff.manager)
    _select(qtbot, page, "MUG-1")
    QTest.keyClick(page.grid.view, Qt.Key.Key_F2)
    dialog = _dialog(qtbot, page, ItemDialog)
    assert dialog.windowTitle() == "Edit MUG-1"
    assert dialog.stock is None and dialog.levels is not None  # levels move by adjustment only
    assert dialog.levels.text() == "Stock 7 · Reserved 2 · Available 5"
    assert (dialog.price.text(), dialog.reorder_level.text()) == ("9.00", "")
    _fill(dialog, name="Blue mug", price="12.5", reorder_level="4")
    # Stock moving meanwhile is no conflict: an edit never touches the levels.
    services.stock.adjust(staff.manager, mug.id, Adjustment(MovementKind.RECEIVE, 3, "delivery"))
    _save(qtbot, dialog)
    assert not dialog.isVisible()
    saved = services.inventory.get_item(staff.admin, mug.id)
    assert (saved.name, saved.price, saved.reorder_level, saved.stock) == (
        "Blue mug",
        Decimal("12.50"),
        4,
        10,
    )
    assert page.status.text() == "Saved MUG-1 — Blue mug."
    qtbot.waitUntil(lambda: page.panel.name.text() == "Blue mug", timeout=WAIT_MS)
    assert page.panel.values["threshold"].text() == "4 (this item's reorder level)"


# -- someone else's change -----------------------------------------------------------------------------


def test_a_save_after_someone_elses_change_compares_both_and_reload_takes_theirs(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    mug = _item(services, staff, "MUG-1", "Mug")
    page = open_page(staff.admin)
    _select(qtbot, page, "MUG-1")
    page.edit_action.trigger()
    dialog = _dialog(qtbot, page, ItemDialog)
    services.inventory.update_item(  # a manager, meanwhile
        staff.manager,
        mug.id,
        ItemFields("MUG-1", "Mug (blue)", "Kitchen", "Acme", Decimal("11.00"), Decimal("3.00")),
        expected_version=mug.version,
    )
    _fill(dialog, price="9.50", reorder_level="5")
    _save(qtbot, dialog)
    conflict = _conflict(qtbot, dialog)
    assert dialog.isVisible() and dialog.price.text() == "9.50"
    cells = _cells(conflict)
    assert cells["Name"] == ["Mug", "Mug (blue)", "Mug"]
    assert cells["Price"] == ["9.00", "11.00", "9.50"]
    assert cells["Reorder level"] == ["Shop default", "Shop default", "5"]
    assert conflict.changes() == (["Name", "Price"], ["Price", "Reorder level"])
    palette = conflict.palette()
    theirs_name, theirs_price, mine_level = (_cell(conflict, r, c) for r, c in ((1, 2), (4, 2), (6, 3)))
    assert theirs_name.background().color() == tint(palette, "warning")[0]  # changed by them
    assert theirs_price.background().color() == tint(palette, "error")[0]  # by both, differently
    assert mine_level.background().color() == tint(palette, "info")[0]  # by you
    assert _cell(conflict, 2, 2).background().style() == Qt.BrushStyle.NoBrush  # nobody

    conflict.reload_button.click()
    assert not conflict.isVisible()
    assert (dialog.name.text(), dialog.price.text(), dialog.reorder_level.text()) == (
        "Mug (blue)",
        "11.00",
        "",
    )
    _fill(dialog, cost="4.00")
    _save(qtbot, dialog)  # based on their version now: saves
    assert not dialog.isVisible()
    saved = services.inventory.get_item(staff.admin, mug.id)
    assert (saved.name, saved.price, saved.cost, saved.reorder_level) == (
        "Mug (blue)",
        Decimal("11.00"),
        Decimal("4.00"),
        None,
    )


def test_apply_mine_saves_my_values_over_theirs_and_a_third_change_in_between_conflicts_again(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff, make_user: Callable[..., Actor]
) -> None:
    mug = _item(services, staff, "MUG-1", "Mug")
    other = make_user("manager", email="mia@shop.example")
    page = open_page(staff.admin)
    _select(qtbot, page, "MUG-1")
    page.edit_action.trigger()
    dialog = _dialog(qtbot, page, ItemDialog)
    theirs = services.inventory.update_item(
        staff.manager,
        mug.id,
        ItemFields("MUG-1", "Mug (blue)", "Kitchen", "Acme", Decimal("11.00"), Decimal("3.00")),
        expected_version=mug.version,
    )
    _fill(dialog, price="9.50")
    _save(qtbot, dialog)
    first = _conflict(qtbot, dialog)
    services.inventory.update_item(  # a third person, while the comparison is on screen
        other,
        mug.id,
        ItemFields("MUG-1", "Mug XL", "Kitchen", "Acme", Decimal("11.00"), Decimal("3.00")),
        expected_version=theirs.version,
    )
    first.apply_button.click()
    qtbot.waitUntil(lambda: dialog.conflict_dialog is not first, timeout=WAIT_MS)
    second = _conflict(qtbot, dialog)
    assert _cells(second)["Name"] == ["Mug (blue)", "Mug XL", "Mug"]
    assert services.inventory.get_item(staff.admin, mug.id).name == "Mug XL"  # nothing overwritten yet

    second.apply_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
    saved = services.inventory.get_item(staff.admin, mug.id)
    assert (saved.name, saved.price) == ("Mug", Decimal("9.50"))  # exactly the “Your value” column
    assert page.status.text() == "Saved MUG-1 — Mug."


def test_an_item_deleted_meanwhile_is_said_and_can_be_created_again(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    mug = _item(services, staff, "MUG-1", "Mug", stock=0)
    page = open_page(staff.admin)
    _select(qtbot, page, "MUG-1")
    page.edit_action.trigger()
    dialog = _dialog(qtbot, page, ItemDialog)
    services.inventory.delete_item(staff.manager, mug.id)
    _fill(dialog, name="Mug, again")
    _save(qtbot, dialog)
    conflict = _conflict(qtbot, dialog)
    assert "was deleted by someone else" in conflict.intro.text()
    assert _cells(conflict)["Name"] == ["Mug", "Mug, again"]
    conflict.recreate_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
    assert services.inventory.find_sku(staff.admin, "MUG-1").name == "Mug, again"


# -- stock -----------------------------------------------------------------------------------------------


def test_a_manager_receives_stock_and_the_levels_history_and_status_follow(
    qtbot: QtBot, qtmodeltester: Any, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    mug = _item(services, staff, "MUG-1", "Mug", stock=10, reserved=2)
    page = open_page(staff.manager)
    _select(qtbot, page, "MUG-1")
    qtbot.waitUntil(
        lambda: page.history.grid is not None and page.history.grid.model.is_loaded, timeout=WAIT_MS
    )
    history = page.history.grid
    assert history is not None and history.model.rowCount() == 1
    qtmodeltester.check(history.model)  # one item's history through the grid's model, refresh included
    assert page.adjust_action.isEnabled()
    QTest.keySequence(page.grid.view, "Ctrl+J")
    dialog = _dialog(qtbot, page, AdjustDialog)
    assert dialog.kind is MovementKind.RECEIVE
    assert dialog.levels.text() == "Stock 10 · Reserved 2 · Available 8"
    dialog.quantity.setValue(5)
    dialog.reason.setText("Delivery note 4711")
    assert dialog.preview.text() == "Stock 10 → 15 · Reserved 2 · Available 8 → 13"
    _save(qtbot, dialog)
    assert not dialog.isVisible()
    assert page.status.text() == "Received 5 of MUG-1: Stock 10 → 15 · Reserved 2 · Available 8 → 13."
    row = services.inventory.get_item(staff.admin, mug.id)
    assert (row.stock, row.reserved) == (15, 2)
    qtbot.waitUntil(lambda: page.panel.values["stock"].text() == "15", timeout=WAIT_MS)
    assert _rows(page)[0].available == 13
    qtbot.waitUntil(lambda: history.model.rowCount() == 2, timeout=WAIT_MS)
    assert page.history.grid is history  # the same item keeps its history grid
    newest = history.model.record(0)
    assert (newest.kind_label, newest.stock_delta, newest.reason, newest.actor) == (
        "Received",
        5,
        "Delivery note 4711",
        "max@shop.example",
    )


def test_a_refused_shipment_shows_the_services_sentence_and_keeps_the_input(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    mug = _item(services, staff, "MUG-1", "Mug", stock=10)
    page = open_page(staff.admin)
    _select(qtbot, page, "MUG-1")
    page.panel.adjust_buttons[MovementKind.SHIP].click()
    dialog = _dialog(qtbot, page, AdjustDialog)
    assert dialog.kind is MovementKind.SHIP
    services.stock.adjust(staff.manager, mug.id, Adjustment(MovementKind.SHIP, 8, "order 1"))  # meanwhile
    dialog.quantity.setValue(5)
    dialog.reason.setText("Order 2")
    assert "Only" not in dialog.preview.text()  # by the levels it showed, 5 of 10 could go
    _save(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.status.text() == (
        "Nothing was changed. Cannot ship 5 of MUG-1: only 2 available (2 in stock, 0 reserved)."
    )
    assert (dialog.quantity.value(), dialog.reason.text(), dialog.kind) == (5, "Order 2", MovementKind.SHIP)
    qtbot.waitUntil(lambda: dialog.levels.text() == "Stock 2 · Reserved 0 · Available 2", timeout=WAIT_MS)
    assert dialog.preview.text().endswith("Only 2 available: cannot ship 5.")
    assert services.inventory.get_item(staff.admin, mug.id).stock == 2


def test_a_counted_level_is_refused_when_the_stock_moved_while_it_was_typed(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    mug = _item(services, staff, "MUG-1", "Mug", stock=10)
    page = open_page(staff.admin)
    _select(qtbot, page, "MUG-1")
    dialog = page.adjust_stock(MovementKind.CORRECT)
    assert dialog is not None
    dialog = _dialog(qtbot, page, AdjustDialog)
    assert dialog.counting and dialog.quantity.value() == 10  # a count starts at the stock shown
    services.stock.adjust(staff.manager, mug.id, Adjustment(MovementKind.RECEIVE, 3, "delivery"))
    dialog.quantity.setValue(12)
    dialog.reason.setText("Stocktake")
    adjustment = dialog.adjustment()
    assert (adjustment.quantity, adjustment.expected_stock) == (2, 10)
    _save(qtbot, dialog)
    assert "MUG-1's stock changed from 10 to 13 while you were entering this" in dialog.status.text()
    assert services.inventory.get_item(staff.admin, mug.id).stock == 13
    qtbot.waitUntil(lambda: dialog.item.stock == 13, timeout=WAIT_MS)
    assert dialog.quantity.value() == 12  # the count stays what was counted
    assert dialog.preview.text() == "Stock 13 → 12 · Reserved 0 · Available 13 → 12"
    _save(qtbot, dialog)
    assert not dialog.isVisible()
    assert services.inventory.get_item(staff.admin, mug.id).stock == 12


# -- deleting, archiving, restoring ------------------------------------------------------------------


def test_delete_archives_an_item_with_history_and_says_so_but_deletes_a_fresh_one(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    moved = _item(services, staff, "MOVED-1", "Moved mug", stock=5)
    services.stock.adjust(staff.manager, moved.id, Adjustment(MovementKind.SHIP, 1, "order 1"))
    _item(services, staff, "FRESH-1", "Fresh mug", stock=5)  # only its opening stock
    page = open_page(staff.admin)
    _select(qtbot, page, "MOVED-1")
    QTest.keyClick(page.grid.view, Qt.Key.Key_Delete)
    _confirm(qtbot, page, "Delete")
    qtbot.waitUntil(lambda: "archived instead of deleted" in page.status.text(), timeout=WAIT_MS)
    assert page.status.text() == (
        "MOVED-1 — Moved mug has stock history, so it was archived instead of deleted: its history stays, "
        "and “Show archived” lists it."
    )
    assert services.inventory.get_item(staff.admin, moved.id).sku == "MOVED-1"  # still there, archived
    qtbot.waitUntil(lambda: [r.sku for r in _rows(page)] == ["FRESH-1"], timeout=WAIT_MS)

    _select(qtbot, page, "FRESH-1")
    page.delete_action.trigger()
    _confirm(qtbot, page, "Delete")
    qtbot.waitUntil(lambda: page.status.text() == "Deleted FRESH-1 — Fresh mug.", timeout=WAIT_MS)
    with pytest.raises(NotFound):
        services.inventory.find_sku(staff.admin, "FRESH-1")


def test_show_archived_lists_archived_items_and_restore_brings_one_back(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    old = _item(services, staff, "OLD-1", "Old mug")
    _item(services, staff, "NEW-1", "New mug")
    _item(services, staff, "OLD-2", "Old plate", category="Plates")
    services.inventory.archive_item(staff.manager, old.id)
    page = open_page(staff.manager)
    assert [r.sku for r in _rows(page)] == ["NEW-1", "OLD-2"]
    page.archived_action.trigger()
    qtbot.waitUntil(lambda: [r.sku for r in _rows(page)] == ["OLD-1"], timeout=WAIT_MS)
    assert page.archived_action.isChecked() and page.archived_hint.isVisible()
    page.grid.set_filter("category", "Kitchen")  # another filter keeps the archived ones listed
    qtbot.waitUntil(lambda: page.grid.model.query.filters.get("category") == "Kitchen", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.grid.model.is_loaded, timeout=WAIT_MS)
    assert [r.sku for r in _rows(page)] == ["OLD-1"]

    _select(qtbot, page, "OLD-1")
    assert not page.adjust_action.isEnabled() and page.adjust_action.toolTip() == ARCHIVED_NO_STOCK
    assert page.archive_action.text() == "&Restore"
    page.archive_action.trigger()
    qtbot.waitUntil(lambda: page.status.text().startswith("Restored OLD-1 — Old mug"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: _rows(page) == [], timeout=WAIT_MS)
    page.grid.set_filter("category", None)
    page.archived_action.trigger()
    qtbot.waitUntil(lambda: [r.sku for r in _rows(page)] == ["NEW-1", "OLD-1", "OLD-2"], timeout=WAIT_MS)
    assert page.archive_action.text() == "A&rchive"


# -- keyboard and roles ------------------------------------------------------------------------------


def test_ctrl_h_goes_to_the_history_and_from_there_hides_it(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    _item(services, staff, "MUG-1", "Mug")
    page = open_page(staff.viewer)
    _select(qtbot, page, "MUG-1")
    qtbot.waitUntil(lambda: page.history.grid is not None, timeout=WAIT_MS)
    history = page.history.grid
    assert history is not None
    QTest.keySequence(page.grid.view, "Ctrl+H")
    assert page.window().focusWidget() is history.view
    QTest.keySequence(history.view, "Ctrl+H")
    assert page.history.isHidden() and not page.history_action.isChecked()
    assert page.window().focusWidget() is page.grid.view
    QTest.keySequence(page.grid.view, "Ctrl+H")
    assert page.history.isVisible() and page.history_action.isChecked()


def test_a_viewer_sees_every_change_disabled_with_the_reason(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    _item(services, staff, "MUG-1", "Mug")
    page = open_page(staff.viewer)
    _select(qtbot, page, "MUG-1")
    targets: list[tuple[QAction | QPushButton, str]] = [
        (page.new_action, "inventory.write"),
        (page.edit_action, "inventory.write"),
        (page.archive_action, "inventory.write"),
        (page.delete_action, "inventory.write"),
        (page.import_action, "inventory.write"),
        (page.adjust_action, "inventory.adjust"),
        *((button, "inventory.adjust") for button in page.panel.adjust_buttons.values()),
    ]
    for action, permission in targets:
        assert not action.isEnabled()
        assert action.toolTip().startswith("Your role (viewer) does not include")
        assert f"({permission})" in action.toolTip()
    assert page.history_action.isEnabled() and page.archived_action.isEnabled()
    QTest.keyClick(page.grid.view, Qt.Key.Key_Return)
    QTest.keySequence(page.grid.view, "Ctrl+J")
    assert page.findChild(ItemDialog) is None and page.findChild(AdjustDialog) is None
    QTest.keyClick(page.grid.view, Qt.Key.Key_Delete)
    assert "(inventory.write)" in page.status.text()
    assert services.inventory.table.page(staff.admin, ListQuery()).total == 1


def test_import_is_offered_to_those_who_may_write_and_the_page_is_the_registered_one(
    qtbot: QtBot, open_page: OpenPage, staff: Staff
) -> None:
    page = open_page(staff.manager)
    assert page.import_action.isEnabled()
    assert page.import_action.shortcut().toString() == "Ctrl+I"
    assert page.import_action.toolTip() == "Create and update items from a CSV file (Ctrl+I)."
    assert page_spec("inventory").permission == "inventory.read"
    registered = page_spec("inventory").factory(page.session)
    assert isinstance(registered, InventoryPage)
    registered.deleteLater()


def test_importing_again_replaces_the_last_import_dialog_instead_of_keeping_every_one(
    qtbot: QtBot, open_page: OpenPage, staff: Staff
) -> None:
    from ecomdesk.ui.pages.inventory_import import ImportDialog

    page = open_page(staff.manager)
    first = page.import_csv()
    assert isinstance(first, ImportDialog)
    first.reject()
    second = page.import_csv()
    assert isinstance(second, ImportDialog) and second is not first
    qtbot.waitUntil(lambda: page.findChildren(ImportDialog) == [second], timeout=WAIT_MS)
    second.reject()
