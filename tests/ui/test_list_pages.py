"""The list pages: a grid over a table, Enter opens a record read-only, Delete says it is not possible.

(The inventory page outgrew this: tests/ui/test_inventory_page.py.)"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QMainWindow
from pytestqt.qtbot import QtBot
from sqlalchemy import insert

from ecomdesk.db.models import AuditEntry
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.ui.pages.lists import ListPage, RecordDialog, activity_page
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


def _select(page: ListPage, row: int) -> None:
    page.grid.view.setFocus()
    page.grid.view.selectRow(row)


def test_a_list_without_deleting_says_so_and_enter_opens_the_record_read_only(
    qtbot: QtBot, services: Services, staff: Staff, runner: TaskRunner
) -> None:
    with services.ctx.engine.begin() as conn:
        conn.execute(
            insert(AuditEntry),
            [{"actor_email": "max@shop.example", "action": "stock.counted", "entity_type": "inventory_item"}],
        )
    entries = services.tables["activity"].page(staff.admin, ListQuery()).total
    page = activity_page(AppSession(services, staff.admin, runner, database_label="test"))
    window = _show(qtbot, page)
    _select(page, 0)
    QTest.keyClick(page.grid.view, Qt.Key.Key_Delete)
    assert "deleting is not possible" in window.statusBar().currentMessage()
    assert services.tables["activity"].page(staff.admin, ListQuery()).total == entries

    QTest.keyClick(page.grid.view, Qt.Key.Key_Return)
    dialog = page.findChild(RecordDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "stock.counted by max@shop.example"
    fields = {
        label.accessibleName(): label.text()
        for label in dialog.findChildren(QLabel)
        if label.accessibleName()
    }
    assert (fields["Who"], fields["Action"], fields["Entity"]) == (
        "max@shop.example",
        "stock.counted",
        "inventory_item",
    )
