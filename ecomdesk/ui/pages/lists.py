"""Pages that are one list: a heading and the grid over one of the services' tables.

The activity log starts as such a page; its own issue adds more around the same grid, as the
inventory and reports pages (`pages.inventory`, `pages.reports`) did. Enter (or a double-click)
opens the selected record read-only; Delete says it is not possible here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.tables import TableSpec
from ecomdesk.ui.grid import GridView, RowStyle
from ecomdesk.ui.grid.format import display_text
from ecomdesk.ui.session import AppSession


class RecordDialog(QDialog):
    """Every column of one record, read-only, formatted as the grid formats it."""

    def __init__(self, spec: TableSpec, record: Any, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        form = QFormLayout()
        locale = QLocale()
        for column in spec.columns:
            value = QLabel(display_text(getattr(record, column.key), column.kind, locale) or "—")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            value.setAccessibleName(column.title)
            form.addRow(column.title, value)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)


class ListPage(QWidget):
    def __init__(
        self,
        session: AppSession,
        view: str,
        *,
        describe_record: Callable[[Any], str],
        row_style: RowStyle | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.table = session.services.tables[view]
        self._describe_record = describe_record
        heading = QLabel(self.table.spec.title, self)
        heading.setObjectName("pageTitle")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        heading.setFont(font)
        self.grid = GridView(session, self.table, row_style=row_style, parent=self)
        self.grid.activated.connect(self.open_record)
        self.grid.delete_requested.connect(self.delete_records)
        self.grid.status_message.connect(self._show_status)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.grid, 1)

    # -- what the main window calls --------------------------------------------------------

    def refresh(self) -> None:
        self.grid.refresh()

    def focus_search(self) -> None:
        self.grid.focus_search()

    # -- actions -----------------------------------------------------------------------------

    def open_record(self, record: Any) -> None:
        RecordDialog(self.table.spec, record, self._describe_record(record), self).open()

    def delete_records(self, records: list[Any]) -> None:
        if records:
            self._show_status(f"{self.table.spec.title}: deleting is not possible from this list.")

    def _show_status(self, text: str) -> None:
        window = self.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(text, 8000)


def activity_page(session: AppSession) -> ListPage:
    return ListPage(
        session,
        "activity",
        describe_record=lambda entry: f"{entry.action} by {entry.actor_email or 'the system'}",
    )
