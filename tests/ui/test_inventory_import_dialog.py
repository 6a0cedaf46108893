"""The inventory import dialog end to end on a real database: a file is read and checked in the
background, the preview's counts, problems and rows show in grids, Import is offered only for a
clean preview that changes something, the import lands in the database, and whole-file problems,
cancelling and the keyboard behave."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, text

from ecomdesk.services.context import Actor
from ecomdesk.services.errors import NotFound
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.inventory_import import ImportFileError, ImportResult, InventoryImport, RowAction
from ecomdesk.services.registry import Services
from ecomdesk.ui.grid import GridView, RowStyleRole
from ecomdesk.ui.pages.inventory_import import FILE_TITLE, NOTHING_TO_IMPORT, STOPPED, ImportDialog
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import Staff

WAIT_MS = 15_000
HEADER = "sku,name,category,supplier,stock,reserved,price,cost,reorder_level\n"

OpenDialog = Callable[[Actor], ImportDialog]


@pytest.fixture
def open_dialog(qtbot: QtBot, services: Services, runner: TaskRunner) -> OpenDialog:
    kept: list[object] = []  # qtbot keeps only weak references

    def open_(actor: Actor) -> ImportDialog:
        window = QMainWindow()
        window.resize(1200, 800)
        qtbot.addWidget(window)
        window.show()
        dialog = ImportDialog(AppSession(services, actor, runner, database_label="test"), window)
        kept.extend((window, dialog))
        dialog.open()
        return dialog

    return open_


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def preview(qtbot: QtBot, dialog: ImportDialog, path: Path) -> None:
    dialog.load_file(path)
    assert dialog.is_busy
    qtbot.waitUntil(
        lambda: dialog.is_settled and (dialog.import_result is not None or dialog.message is not None),
        timeout=WAIT_MS,
    )


def import_it(qtbot: QtBot, dialog: ImportDialog) -> ImportResult:
    assert dialog.import_button.isEnabled()
    with qtbot.waitSignal(dialog.imported, timeout=WAIT_MS) as signal:
        dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.is_settled, timeout=WAIT_MS)
    result = signal.args[0]
    assert isinstance(result, ImportResult)
    return result


def records(grid: GridView | None) -> list[object]:
    assert grid is not None and grid.model.is_loaded
    return [grid.model.record(row) for row in range(grid.model.rowCount())]


def add_item(services: Services, staff: Staff, sku: str, price: str = "5.00", stock: int = 4) -> None:
    fields = ItemFields(sku, "Old mug", "Kitchen", "Acme", Decimal(price), Decimal("2.00"))
    services.inventory.create_item(staff.admin, fields, stock=stock)


def test_a_clean_file_previews_its_counts_and_imports_every_row(
    qtbot: QtBot, open_dialog: OpenDialog, services: Services, staff: Staff, tmp_path: Path
) -> None:
    add_item(services, staff, "OLD-1", price="5.00")
    path = write(
        tmp_path,
        "stock.csv",
        HEADER
        + "NEW-1,Blue mug,Kitchen,Acme,10,2,9.99,4.00,3\n"
        + "NEW-2,Red mug,Kitchen,Acme,5,0,9.99,4.00,\n"
        + "OLD-1,Old mug,Kitchen,Acme,4,0,6.00,2.00,\n",
    )
    dialog = open_dialog(staff.manager)
    preview(qtbot, dialog, path)

    assert dialog.summary.text() == "3 rows: 2 new, 1 changed, 0 unchanged."
    assert dialog.message is None and dialog.problems_grid is None
    rows = records(dialog.rows_grid)
    assert [(r.line, r.sku, r.action) for r in rows] == [  # type: ignore[attr-defined]
        (2, "NEW-1", RowAction.CREATE),
        (3, "NEW-2", RowAction.CREATE),
        (4, "OLD-1", RowAction.UPDATE),
    ]
    assert dialog.rows_grid is not None
    action = dialog.rows_grid.model.column_index("action_label")
    assert [dialog.rows_grid.model.display(row, action) for row in range(3)] == ["New", "New", "Change"]
    assert dialog.import_button.text() == "Import 3 items" and dialog.import_button.isEnabled()
    with pytest.raises(NotFound):
        services.inventory.find_sku(staff.admin, "NEW-1")  # a preview writes nothing

    result = import_it(qtbot, dialog)
    assert result.committed and (result.created, result.updated) == (2, 1)
    assert dialog.summary.kind == "success" and "2 items created, 1 item updated" in dialog.summary.text()
    assert not dialog.import_button.isVisible() and dialog.close_button.isDefault()
    blue = services.inventory.find_sku(staff.admin, "NEW-1")
    assert (blue.name, blue.stock, blue.reserved, blue.price, blue.reorder_level) == (
        "Blue mug",
        10,
        2,
        Decimal("9.99"),
        3,
    )
    assert services.inventory.find_sku(staff.admin, "OLD-1").price == Decimal("6.00")


def test_a_file_with_bad_rows_lists_every_problem_by_line_and_column_and_cannot_be_imported(
    qtbot: QtBot, open_dialog: OpenDialog, services: Services, staff: Staff, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "bad.csv",
        HEADER
        + "GOOD-1,Fine mug,Kitchen,Acme,10,2,9.99,4.00,\n"  # line 2
        + "BAD-1,Cheap mug,Kitchen,Acme,1,5,abc,4.00,\n"  # line 3: price unreadable, reserved > stock
        + "GOOD-1,Twin mug,Kitchen,Acme,1,0,9.99,4.00,\n"  # line 4: the SKU again
        + "BAD-2,Short line,Kitchen\n",  # line 5: too few cells
    )
    dialog = open_dialog(staff.admin)
    preview(qtbot, dialog, path)

    assert dialog.summary.text() == "3 rows have problems; nothing can be imported until they are fixed."
    assert dialog.summary.kind == "error"
    problems = records(dialog.problems_grid)
    located = [(p.line, p.column) for p in problems]  # type: ignore[attr-defined]
    assert located == [(3, "reserved"), (3, "price"), (4, "sku"), (5, None)]
    assert dialog.problems_panel.isVisible()
    assert not dialog.import_button.isEnabled() and dialog.import_button.text() == "Import"

    # The rows to fix come first; all of them are one filter away, the bad ones marked.
    rows_grid = dialog.rows_grid
    assert rows_grid is not None
    assert rows_grid.filters["problems"].currentText() == "Problems only"
    assert [r.line for r in records(rows_grid)] == [3, 4, 5]  # type: ignore[attr-defined]
    rows_grid.set_filter("problems", None)
    qtbot.waitUntil(lambda: rows_grid.model.is_loaded and rows_grid.model.rowCount() == 4, timeout=WAIT_MS)
    styles = [rows_grid.model.index(row, 0).data(RowStyleRole) for row in range(rows_grid.model.rowCount())]
    assert styles == [None, "attention", "attention", "attention"]

    dialog.start_import()  # what the button would do, were it enabled: nothing
    assert not dialog.is_busy
    with pytest.raises(NotFound):
        services.inventory.find_sku(staff.admin, "GOOD-1")


def test_a_file_saved_with_a_byte_order_mark_imports(
    qtbot: QtBot, open_dialog: OpenDialog, services: Services, staff: Staff, tmp_path: Path
) -> None:
    content = HEADER + "CAFE-1,Café crème mug,Küche,Acme,3,0,12.50,6.00,\n"
    path = write(tmp_path, "excel.csv", b"\xef\xbb\xbf" + content.encode())
    dialog = open_dialog(staff.admin)
    preview(qtbot, dialog, path)
    assert dialog.summary.text() == "1 row: 1 new, 0 changed, 0 unchanged."
    assert import_it(qtbot, dialog).created == 1
    item = services.inventory.find_sku(staff.admin, "CAFE-1")
    assert (item.name, item.category) == ("Café crème mug", "Küche")


def _xlsx(tmp_path: Path) -> Path:
    path = tmp_path / "stock.xlsx"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: write(
            tmp, "latin1.csv", (HEADER + "L-1,Café mug,Kitchen,Acme,1,0,1.00,0.50,\n").encode("latin-1")
        ),
        lambda tmp: write(tmp, "columns.csv", "sku,name,colour\nL-1,Mug,blue\n"),
        _xlsx,
        lambda tmp: write(tmp, "header-only.csv", HEADER),
    ],
    ids=["latin-1", "missing-columns", "xlsx", "no-rows"],
)
def test_a_file_that_cannot_be_read_shows_the_services_sentence_and_no_preview(
    qtbot: QtBot,
    open_dialog: OpenDialog,
    services: Services,
    staff: Staff,
    tmp_path: Path,
    make: Callable[[Path], Path],
) -> None:
    path = make(tmp_path)
    with pytest.raises(ImportFileError) as refused:
        InventoryImport(services.ctx).preview(staff.admin, path.read_bytes(), path.name)
    dialog = open_dialog(staff.admin)
    preview(qtbot, dialog, path)
    message = dialog.message
    assert message is not None and (message.title, message.text) == (FILE_TITLE, refused.value.message)
    assert dialog.message_bar.isVisible()
    assert dialog.import_result is None and dialog.rows_grid is None and dialog.problems_grid is None
    assert dialog.stack.currentWidget() is dialog.empty
    assert not dialog.import_button.isEnabled()


def test_importing_the_same_file_again_says_there_is_nothing_to_import(
    qtbot: QtBot, open_dialog: OpenDialog, staff: Staff, tmp_path: Path
) -> None:
    path = write(tmp_path, "again.csv", HEADER + "AGAIN-1,Mug,Kitchen,Acme,2,0,3.00,1.00,\n")
    dialog = open_dialog(staff.admin)
    preview(qtbot, dialog, path)
    import_it(qtbot, dialog)
    preview(qtbot, dialog, path)
    assert dialog.summary.text() == NOTHING_TO_IMPORT
    assert dialog.import_button.isVisible() and not dialog.import_button.isEnabled()
    assert [r.action for r in records(dialog.rows_grid)] == [RowAction.UNCHANGED]  # type: ignore[attr-defined]
    assert dialog.rows_grid is not None and dialog.rows_grid.model.index(0, 0).data(RowStyleRole) == "muted"


def test_a_cancelled_preview_shows_nothing_even_when_its_result_arrives_later(
    qtbot: QtBot,
    open_dialog: OpenDialog,
    runner: TaskRunner,
    services: Services,
    staff: Staff,
    tmp_path: Path,
) -> None:
    lines = "".join(f"MANY-{n},Mug {n},Kitchen,Acme,1,0,2.00,1.00,\n" for n in range(5_000))
    path = write(tmp_path, "many.csv", HEADER + lines)
    dialog = open_dialog(staff.admin)
    dialog.load_file(path)
    assert dialog.progress_row.isVisibleTo(dialog) and dialog.cancel_button.isEnabled()
    dialog.cancel_button.click()
    assert not dialog.is_busy and dialog.summary.text() == STOPPED
    assert runner.wait(WAIT_MS)
    qtbot.waitUntil(lambda: runner.pending == 0, timeout=WAIT_MS)
    assert dialog.import_result is None and dialog.rows_grid is None
    assert not dialog.progress_row.isVisibleTo(dialog) and not dialog.import_button.isEnabled()
    with pytest.raises(NotFound):
        services.inventory.find_sku(staff.admin, "MANY-1")


def test_an_import_stopped_while_it_waits_for_a_locked_item_writes_nothing_and_can_be_started_again(
    qtbot: QtBot, open_dialog: OpenDialog, engine: Engine, services: Services, staff: Staff, tmp_path: Path
) -> None:
    add_item(services, staff, "LOCK-1", price="5.00")
    path = write(
        tmp_path,
        "lock.csv",
        HEADER + "LOCK-1,Old mug,Kitchen,Acme,4,0,7.00,2.00,\nLOCK-2,Mug,Toys,Acme,1,0,2.00,1.00,\n",
    )
    dialog = open_dialog(staff.admin)
    preview(qtbot, dialog, path)
    imported: list[object] = []
    dialog.imported.connect(imported.append)
    with engine.connect() as other:
        with other.begin():
            other.execute(text("SELECT 1 FROM inventory_items WHERE sku = 'LOCK-1' FOR UPDATE"))
            dialog.import_button.click()
            assert dialog.is_busy and not dialog.choose_button.isEnabled()
            dialog.cancel_button.click()
            assert dialog.progress_label.text() == "Stopping…"
        # The lock is gone: the import goes on to its last check, sees the request, and stops.
        qtbot.waitUntil(lambda: not dialog.is_busy, timeout=WAIT_MS)
    assert dialog.summary.text() == STOPPED and imported == []
    assert services.inventory.find_sku(staff.admin, "LOCK-1").price == Decimal("5.00")
    with pytest.raises(NotFound):
        services.inventory.find_sku(staff.admin, "LOCK-2")
    assert dialog.import_button.isEnabled()  # the preview still stands
    assert import_it(qtbot, dialog).created == 1


def test_an_import_refused_because_the_inventory_changed_shows_the_new_problems(
    qtbot: QtBot, open_dialog: OpenDialog, services: Services, staff: Staff, tmp_path: Path
) -> None:
    add_item(services, staff, "GONE-1")
    path = write(tmp_path, "late.csv", HEADER + "GONE-1,Old mug,Kitchen,Acme,4,0,8.00,2.00,\n")
    dialog = open_dialog(staff.admin)
    preview(qtbot, dialog, path)
    item = services.inventory.find_sku(staff.admin, "GONE-1")
    services.inventory.archive_item(staff.admin, item.id)  # someone archives it meanwhile
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.is_settled and dialog.problems_grid is not None, timeout=WAIT_MS)
    assert dialog.summary.kind == "error"
    assert dialog.summary.text().startswith("1 row has problems; nothing was imported.")
    assert [(p.line, p.column) for p in records(dialog.problems_grid)] == [(2, "sku")]  # type: ignore[attr-defined]
    assert not dialog.import_button.isEnabled()
    assert services.inventory.get_item(staff.admin, item.id).price == Decimal("5.00")


def test_a_viewer_is_told_plainly_that_importing_is_not_theirs(
    qtbot: QtBot, open_dialog: OpenDialog, staff: Staff, tmp_path: Path
) -> None:
    path = write(tmp_path, "viewer.csv", HEADER + "V-1,Mug,Kitchen,Acme,2,0,3.00,1.00,\n")
    dialog = open_dialog(staff.viewer)
    preview(qtbot, dialog, path)
    message = dialog.message
    assert message is not None and message.title == "Not allowed" and "inventory.write" in message.text
    assert dialog.import_result is None and not dialog.import_button.isEnabled()


def test_enter_never_imports_a_dropped_file_previews_and_esc_closes_and_stops_the_work(
    qtbot: QtBot, open_dialog: OpenDialog, services: Services, staff: Staff, tmp_path: Path
) -> None:
    path = write(tmp_path, "drop.csv", HEADER + "DROP-1,Mug,Kitchen,Acme,2,0,3.00,1.00,\n")
    dialog = open_dialog(staff.admin)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    dialog.dropEvent(drop)
    assert dialog.is_busy and dialog.path == path
    qtbot.waitUntil(lambda: dialog.is_settled and dialog.import_result is not None, timeout=WAIT_MS)
    assert dialog.import_button.isEnabled()

    assert dialog.rows_grid is not None
    for target in (dialog.rows_grid.search, dialog.rows_grid.view, dialog.import_button):
        target.setFocus()
        QTest.keyClick(target, Qt.Key.Key_Return)
        QTest.keyClick(target, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    qtbot.wait(50)
    assert (dialog.is_busy, dialog.isVisible()) == (False, True)
    with pytest.raises(NotFound):
        services.inventory.find_sku(staff.admin, "DROP-1")

    dialog.load_file(path)
    assert dialog.is_busy
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert (dialog.isVisible(), dialog.is_busy) == (False, False)
    parent = dialog.parentWidget()
    assert parent is not None and dialog.width() >= parent.width() * 0.8


def test_the_dialog_takes_most_of_the_window_and_sits_in_its_middle(
    open_dialog: OpenDialog, staff: Staff
) -> None:
    dialog = open_dialog(staff.manager)
    window = dialog.parentWidget()
    assert window is not None
    outer, inner = window.geometry(), dialog.geometry()
    assert (inner.width(), inner.height()) == (round(outer.width() * 0.9), round(outer.height() * 0.9))
    assert abs(inner.center().x() - outer.center().x()) <= 3  # frame margins aside
    assert abs(inner.center().y() - outer.center().y()) <= 3
