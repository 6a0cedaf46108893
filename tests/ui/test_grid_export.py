"""CSV export of a grid: the UI flow (Ctrl+E, file, BOM, progress, cancel) and what lands in the file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox, QProgressDialog, QPushButton, QWidget
from sqlalchemy import text

from ecomdesk.services.listing import ListQuery
from ecomdesk.services.tables import UTF8_BOM, partial_path
from ecomdesk.ui.grid.export import (
    BOM_KEY,
    ExportChoice,
    ExportDialog,
    ExportRequest,
    default_file_name,
)
from ecomdesk.ui.grid.view import GridView
from ecomdesk.ui.session import AppSession
from tests.ui.grid_data import (
    US,
    BigDb,
    big_db,
    big_session,
    grid_settings,
    live_ids,
)

__all__ = ["big_db", "big_session", "grid_settings"]

WAIT_MS = 20_000


class Asked:
    """Stands in for the file dialog: answers with a fixed file and records what it was told."""

    def __init__(self, path: Path, bom: bool = False) -> None:
        self.path, self.bom = path, bom
        self.requests: list[ExportRequest] = []

    def __call__(self, parent: QWidget, request: ExportRequest) -> ExportChoice | None:
        self.requests.append(request)
        return ExportChoice(self.path, self.bom)


def open_view(qtbot, session: AppSession, settings: QSettings, ask) -> GridView:
    view = GridView(
        session, session.services.tables["inventory"], settings=settings, ask_export=ask, locale=US
    )
    view.resize(900, 300)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.model.is_loaded, timeout=WAIT_MS)
    return view


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_ctrl_e_exports_every_matching_row_with_the_shown_columns_in_their_order(
    qtbot, big_db: BigDb, big_session, grid_settings, tmp_path
):
    ask = Asked(tmp_path / "acme.csv")
    view = open_view(qtbot, big_session, grid_settings, ask)
    header, model = view.header, view.model
    header.moveSection(header.visualIndex(model.column_index("price")), 0)
    header.setSectionHidden(model.column_index("category"), True)
    with qtbot.waitSignal(model.loaded, timeout=WAIT_MS):
        view.set_filter("supplier", "Acme")
    assert model.cached_windows() == [0]  # 200 rows loaded of 33,300

    view.view.setFocus()
    with qtbot.waitSignal(view.status_message, timeout=WAIT_MS) as message:
        qtbot.keyClick(view.view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)

    expected_ids = live_ids(big_db.engine, "supplier = 'Acme'")
    assert message.args == [f"Exported {len(expected_ids):,} items to {tmp_path / 'acme.csv'}"]
    assert ask.requests[0].suggested.name == default_file_name("inventory")
    assert ask.requests[0].summary == f"{len(expected_ids):,} items, 11 columns"
    rows = read_csv(tmp_path / "acme.csv")
    titles = [model.column(s).title for s in view.visible_columns()]
    assert rows[0] == titles
    assert titles[:3] == ["Price", "SKU", "Name"] and "Category" not in titles
    assert len(rows) - 1 == len(expected_ids)
    with big_db.engine.connect() as conn:
        skus = {row.id: row.sku for row in conn.execute(text("SELECT id, sku FROM inventory_items"))}
    assert [row[1] for row in rows[1:]] == [skus[i] for i in expected_ids]
    assert rows[1][0] == str(model.record(0).price)  # plain numbers, not "1,234.50"
    assert rows[1][-1].endswith("Z")  # times in ISO 8601 UTC
    assert not partial_path(tmp_path / "acme.csv").exists()


@pytest.fixture
def tricky_session(engine, services, staff, runner) -> AppSession:
    """Items whose text would break a naive CSV or run as a spreadsheet formula."""
    names = [
        "Mug, blue",
        'The "Big" mug',
        "Two\nlines",
        "=SUM(A1)",
        "+1 and more",
        "-x",
        "@x",
        "\ttabbed",
        "plain",
    ]
    with engine.begin() as conn:
        for number, name in enumerate(names):
            conn.execute(
                text(
                    "INSERT INTO inventory_items (sku, name, category, supplier, price, cost)"
                    " VALUES (:sku, :name, 'Kitchen', '=cmd|calc', 1.00, 2.00)"
                ),
                {"sku": f"T-{number}", "name": name},
            )
    return AppSession(services, staff.viewer, runner, database_label="grid test")


def test_export_quotes_like_rfc_4180_and_neutralises_formula_cells(
    qtbot, tricky_session, grid_settings, tmp_path
):
    view = open_view(qtbot, tricky_session, grid_settings, Asked(tmp_path / "tricky.csv"))
    with qtbot.waitSignal(view.status_message, timeout=WAIT_MS):
        view.export()

    raw = (tmp_path / "tricky.csv").read_bytes()
    assert not raw.startswith(UTF8_BOM)
    rows = read_csv(tmp_path / "tricky.csv")
    names = {row[0]: row[1] for row in rows[1:]}
    assert names["T-0"] == "Mug, blue"
    assert names["T-1"] == 'The "Big" mug'
    assert names["T-2"] == "Two\nlines"
    assert names["T-3"] == "'=SUM(A1)"
    assert names["T-4"] == "'+1 and more"
    assert names["T-5"] == "'-x"
    assert names["T-6"] == "'@x"
    assert names["T-7"] == "'\ttabbed"
    assert names["T-8"] == "plain"
    assert b'"The ""Big"" mug"' in raw and b'"Mug, blue"' in raw
    margin = rows[0].index("Margin %")
    assert {row[margin] for row in rows[1:]} == {"-100.0"}  # a negative number stays a number
    assert {row[rows[0].index("Supplier")] for row in rows[1:]} == {"'=cmd|calc"}


def test_service_export_neutralises_text_but_not_numbers(tricky_session):
    table = tricky_session.services.tables["inventory"]
    out = io.BytesIO()
    count = table.export_csv(
        tricky_session.actor, ListQuery(search="=SUM"), out, columns=["name", "margin", "price"]
    )
    assert count == 1
    assert list(csv.reader(io.StringIO(out.getvalue().decode()))) == [
        ["Name", "Margin %", "Price"],
        ["'=SUM(A1)", "-100.0", "1.00"],
    ]


def test_byte_order_mark_only_when_asked_and_the_choice_is_remembered(
    qtbot, tricky_session, grid_settings, tmp_path
):
    ask = Asked(tmp_path / "excel.csv", bom=True)
    view = open_view(qtbot, tricky_session, grid_settings, ask)
    with qtbot.waitSignal(view.status_message, timeout=WAIT_MS):
        view.export()
    assert (tmp_path / "excel.csv").read_bytes().startswith(UTF8_BOM + b"SKU,")
    assert grid_settings.value(BOM_KEY, type=bool) is True

    ask.path, ask.bom = tmp_path / "plain.csv", False
    with qtbot.waitSignal(view.status_message, timeout=WAIT_MS):
        view.export()
    assert ask.requests[1].bom is True  # offered as last chosen
    assert (tmp_path / "plain.csv").read_bytes().startswith(b"SKU,")
    assert grid_settings.value(BOM_KEY, type=bool) is False


def test_cancelling_the_progress_dialog_leaves_no_file(qtbot, big_session, grid_settings, tmp_path):
    target = tmp_path / "all.csv"
    view = open_view(qtbot, big_session, grid_settings, Asked(target))
    messages: list[str] = []
    view.status_message.connect(messages.append)
    task = view.export()
    assert task is not None
    dialog = view.findChild(QProgressDialog)
    assert dialog is not None
    cancel = dialog.findChild(QPushButton)
    assert cancel is not None
    seen: list[tuple[int, int]] = []

    def cancel_on_first_progress(done: int, total: int, _text: str) -> None:
        seen.append((done, total))
        cancel.click()  # the dialog's Cancel button

    task.progressed.connect(cancel_on_first_progress)
    with qtbot.waitSignal(task.finished, timeout=WAIT_MS):
        pass

    assert seen and seen[0][0] < seen[0][1]  # cancelled part-way, not after the end
    assert not target.exists()
    assert not partial_path(target).exists()
    assert messages == []


def test_cancelling_the_file_choice_exports_nothing(qtbot, big_session, grid_settings, tmp_path):
    view = open_view(qtbot, big_session, grid_settings, lambda parent, request: None)
    assert view.export() is None
    assert list(tmp_path.glob("*.csv*")) == []


def test_export_dialog_offers_the_suggested_file_and_remembered_bom(qtbot, tmp_path):
    existing = tmp_path / "inventory-20261127.csv"
    dialog = ExportDialog(ExportRequest(tmp_path / "new-file", True, "99,900 items, 11 columns"))
    qtbot.addWidget(dialog)
    assert dialog.bom_box.isChecked()
    assert dialog.choice() == ExportChoice(tmp_path / "new-file.csv", True)

    dialog.path_edit.setText(str(tmp_path / "missing-folder" / "x.csv"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)  # present
    dialog.export_button.click()
    assert dialog.problem.isVisibleTo(dialog)
    assert "does not exist" in dialog.problem.text()
    assert dialog.result() == 0

    existing.write_text("old")
    dialog.path_edit.setText(str(tmp_path / "fresh.csv"))
    dialog.bom_box.setChecked(False)
    with qtbot.waitSignal(dialog.accepted):
        dialog.export_button.click()
    assert dialog.choice() == ExportChoice(tmp_path / "fresh.csv", False)
    dialog.path_edit.clear()
    assert not dialog.export_button.isEnabled()
