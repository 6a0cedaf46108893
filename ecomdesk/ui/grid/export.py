"""CSV export of any grid: ask where, then let the server write every matching row.

The rows come from `Table.export_csv` (PostgreSQL's COPY: every row of the current search, filters
and sort, not just the loaded ones, quoted and formula-neutralised by the server) into
`<file>.part`, renamed only when complete: a cancelled or failed export leaves no half a file
behind. Asking for the file is a plain function (`AskExport`), so tests drive the flow without a
native dialog and the default asks with `ExportDialog`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.listing import ListQuery
from ecomdesk.services.tables import Table, export_csv_file
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import Task, TaskControl, show_progress

BOM_KEY = "export/bom"
DIRECTORY_KEY = "export/directory"
BOM_LABEL = "Add a byte-order mark for Excel"


@dataclass(frozen=True)
class ExportRequest:
    """What the asking step is told: a suggested file, the remembered BOM choice, what will be written."""

    suggested: Path
    bom: bool
    summary: str


@dataclass(frozen=True)
class ExportChoice:
    path: Path
    bom: bool


AskExport = Callable[[QWidget, ExportRequest], ExportChoice | None]


def default_file_name(view: str, today: dt.date | None = None) -> str:
    return f"{view}-{(today or dt.date.today()):%Y%m%d}.csv"


class ExportDialog(QDialog):
    """The file to write and the Excel byte-order mark; Browse opens the platform's save dialog."""

    def __init__(self, request: ExportRequest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export to CSV")
        self._confirmed: Path | None = None  # a file the save dialog already asked to overwrite

        self.path_edit = QLineEdit(str(request.suggested))
        self.path_edit.setAccessibleName("File")
        self.path_edit.setMinimumWidth(360)
        browse = QPushButton("Browse…")
        browse.setAccessibleName("Choose the file")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)

        self.bom_box = QCheckBox(BOM_LABEL)
        self.bom_box.setChecked(request.bom)
        self.bom_box.setToolTip("Excel on Windows needs it to read accents and other non-English letters")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.hide()

        form = QFormLayout()
        form.addRow("What:", QLabel(request.summary))
        form.addRow("File:", row)
        form.addRow("", self.bom_box)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.path_edit.textChanged.connect(lambda text: self.export_button.setEnabled(bool(text.strip())))

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

    def choice(self) -> ExportChoice:
        path = Path(self.path_edit.text().strip()).expanduser()
        if not path.suffix:
            path = path.with_suffix(".csv")
        return ExportChoice(path, self.bom_box.isChecked())

    def _browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Export to CSV", self.path_edit.text(), "CSV files (*.csv);;All files (*)"
        )
        if name:
            self.path_edit.setText(name)
            self._confirmed = self.choice().path

    def accept(self) -> None:
        path = self.choice().path
        if not path.parent.is_dir():
            self.problem.setText(f"The folder {path.parent} does not exist.")
            self.problem.show()
            return
        if path.exists() and path != self._confirmed:
            answer = QMessageBox.question(
                self, "Replace the file?", f"{path.name} already exists. Replace it?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        super().accept()


def ask_with_dialog(parent: QWidget, request: ExportRequest) -> ExportChoice | None:
    dialog = ExportDialog(request, parent)
    try:
        return dialog.choice() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def write_csv(
    table: Table[Any],
    session: AppSession,
    query: ListQuery,
    columns: Sequence[str],
    choice: ExportChoice,
) -> Callable[[TaskControl], int]:
    """The export's work (runs on a pool thread): every matching row into the chosen file."""
    actor = session.actor

    def work(control: TaskControl) -> int:
        control.check()
        return export_csv_file(
            table,
            actor,
            query,
            choice.path,
            columns=list(columns),
            bom=choice.bom,
            progress=control.progress,  # called per megabyte: no text to format each time
            cancelled=lambda: control.cancelled,
        )

    return work


def start_export(
    parent: QWidget,
    session: AppSession,
    table: Table[Any],
    query: ListQuery,
    columns: Sequence[str],
    *,
    settings: QSettings,
    view_name: str,
    summary: str,
    ask: AskExport = ask_with_dialog,
    on_done: Callable[[str], None] | None = None,
) -> Task[int] | None:
    """Ask for the file, then export on the task runner with a cancellable progress dialog.

    `on_done` gets the sentence for the status bar ("Exported 12,345 items to …"). Errors take the
    runner's one path; a cancelled export ends silently with no file. None: the user cancelled.
    """
    folder = str(settings.value(DIRECTORY_KEY, "") or "") or QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.DocumentsLocation
    )
    bom = bool(settings.value(BOM_KEY, False, type=bool))
    choice = ask(parent, ExportRequest(Path(folder) / default_file_name(view_name), bom, summary))
    if choice is None:
        return None
    settings.setValue(BOM_KEY, choice.bom)
    settings.setValue(DIRECTORY_KEY, str(choice.path.parent))

    def done(rows: int) -> None:
        if on_done is not None:
            on_done(f"Exported {table.spec.count_text(rows)} to {choice.path}")

    task = session.runner.submit(
        write_csv(table, session, query, columns, choice),
        on_done=done,
        owner=parent,
        description=f"Export {table.spec.title.lower()} to {choice.path.name}",
    )
    show_progress(task, parent, f"Exporting {table.spec.title.lower()}…")
    return task
