"""The list pages: a grid over a table, Enter opens a record read-only, Delete says it is not possible."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QMainWindow
from pytestqt.qtbot import QtBot
from sqlalchemy import insert

from ecomdesk.db.models import InventoryItem
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.ui.grid import RowStyleRole
from ecomdesk.ui.pages.lists import ListPage, RecordDialog, inventory_page
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import Staff

WAIT_MS = 10_000


def _show(qtbot: QtBot, page: ListPage) -> QMainWindow:
    window = QMainWindow()
    window.setCentralWidget(page)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: page.grid.model.is_loaded, timeout=WAIT_MS)
    return window


def _add_items(services: Services, *items: dict[str, object]) -> None:
    common = {"category": "Toys", "supplier": "Acme", "reserved": 0, "price": "5.00", "cost": "2.00"}
    with services.ctx.engine.begin() as conn:
        conn.execute(insert(InventoryItem), [common | item for item in items])


def _select(page: ListPage, row: int) -> None:
    page.grid.view.setFocus()
    page.grid.view.selectRow(row)


def test_a_list_without_deleting_says_so_and_enter_opens_the_record_read_only(
    qtbot: QtBot, services: Services, staff: Staff, runner: TaskRunner
) -> None:
    _add_items(services, {"sku": "MUG-1", "name": "Mug", "stock": 20})
    page = inventory_page(AppSession(services, staff.manager, runner, database_label="test"))
    window = _show(qtbot, page)
    _select(page, 0)
    QTest.keyClick(page.grid.view, Qt.Key.Key_Delete)
    assert "deleting is not possible" in window.statusBar().currentMessage()
    assert services.inventory.table.page(staff.admin, ListQuery()).total == 1

    QTest.keyClick(page.grid.view, Qt.Key.Key_Return)
    dialog = page.findChild(RecordDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "MUG-1 — Mug"
    fields = {
        label.accessibleName(): label.text()
        for label in dialog.findChildren(QLabel)
        if label.accessibleName()
    }
    assert (fields["SKU"], fields["Name"], fields["Stock"]) == ("MUG-1", "Mug", "20")


def test_low_stock_rows_are_marked_on_the_inventory_page(
    qtbot: QtBot, services: Services, staff: Staff, runner: TaskRunner
) -> None:
    _add_items(
        services, {"sku": "LOW-1", "name": "A low", "stock": 2}, {"sku": "OK-1", "name": "B ok", "stock": 90}
    )
    page = inventory_page(AppSession(services, staff.viewer, runner, database_label="test"))
    window = _show(qtbot, page)
    assert window.centralWidget() is page
    styles = [page.grid.model.index(row, 0).data(RowStyleRole) for row in range(2)]
    assert styles == ["attention", None]
