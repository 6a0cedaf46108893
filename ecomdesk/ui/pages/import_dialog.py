"""Importing a file all or nothing: choose (or drop) a file, see what it would change, then import it.

One dialog serves every import (inventory items, orders); an `ImportKind` says what differs: the
service, the words, the preview grid's columns.

Reading the file and checking it run on the task runner with a progress bar and a Cancel that
works; the preview writes nothing. It shows one sentence of what would happen, every problem with
its line and column, and every row with its action — two grids of the grid engine over the
preview's records in memory (`RowsTable`), so both sort, search and export like any list. Import
stays disabled until the preview is clean and changes something. If the data changed since the
preview, the service refuses the whole import and its new problems replace the preview.

Cancelling the import itself is a request to the service (it stops between rows and writes
nothing), not a dropped task: whichever way the import ends — done, refused or stopped — the
dialog hears the truth from the service and says it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from PySide6.QtCore import QSettings, QStandardPaths, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.context import Actor
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.inventory_import import ImportCancelled, ImportProblem, RowAction
from ecomdesk.services.listing import SortKey
from ecomdesk.services.row_table import RowsTable
from ecomdesk.services.tables import Column, Kind, TableSpec
from ecomdesk.ui.errors import Severity, UserMessage, describe
from ecomdesk.ui.forms import StatusLine
from ecomdesk.ui.grid import GridView
from ecomdesk.ui.messages import MessageBar
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import Task, TaskControl
from ecomdesk.ui.widgets import ProgressRow, heading, hint

STOPPED: Final = "Stopped. Nothing was imported."
EMPTY_HINT: Final = (
    "Choose a file, or drop one here, to see what it would change.\nNothing is saved until you press Import."
)
RETRY_HINT: Final = "Correct the file and choose it again, or drop it here."
FILE_TITLE: Final = "This file cannot be imported"
_READ_CHUNK: Final = 1 << 20

PROBLEMS_SPEC: Final = TableSpec(
    name="import-problems",
    title="Problems",
    singular="problem",
    plural="problems",
    columns=(
        Column("line", "Line", Kind.INTEGER),
        Column("column", "Column"),
        Column("message", "Problem"),
    ),
    default_sort=(SortKey("line"),),
    search_hint="Search problems",
)
PROBLEM_SEARCH: Final = ("column", "message")


class ImportOutcome(Protocol):
    """What every import service's preview and commit return."""

    @property
    def file_name(self) -> str: ...
    @property
    def rows(self) -> Sequence[Any]: ...
    @property
    def problems(self) -> Sequence[ImportProblem]: ...
    @property
    def created(self) -> int: ...
    @property
    def updated(self) -> int: ...
    @property
    def committed(self) -> bool: ...
    @property
    def ok(self) -> bool: ...
    @property
    def summary(self) -> str: ...


class ImportService(Protocol):
    def preview(
        self,
        actor: Actor,
        data: bytes,
        file_name: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ImportOutcome: ...

    def commit(
        self,
        actor: Actor,
        data: bytes,
        file_name: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ImportOutcome: ...


@dataclass(frozen=True)
class ImportKind:
    """What one import is: its service, its words and its preview grid."""

    title: str  # "Import inventory items": the window's title and heading
    explanation: str  # the sentence under the heading: columns, matching, all or nothing
    service: Callable[[AppSession], ImportService]
    rows_spec: TableSpec  # the preview's rows; needs line, action_label, changes and problems
    row_search: tuple[str, ...]
    #: The service's "rows have problems, nothing written" error; it carries `.result`.
    rejected: type[ValidationError]
    singular: str  # "item"
    plural: str  # "items"
    nothing_to_import: str  # the preview is clean but changes nothing
    changed_since: str  # said after a refusal, e.g. "The inventory changed since the preview."
    directory_key: str  # the QSettings key of the folder the last file came from
    file_filter: str = "CSV files (*.csv);;All files (*)"
    file_kind: str = "CSV"

    def count(self, n: int) -> str:
        return f"{n:,} {self.singular if n == 1 else self.plural}"


def row_style(row: Any) -> str | None:
    """Rows with problems stand out; rows the import leaves alone step back."""
    if row.problems or row.action is RowAction.INVALID:
        return "attention"
    return "muted" if row.action is RowAction.UNCHANGED else None


def read_file(path: Path, control: TaskControl) -> bytes:
    """The file's bytes, read in chunks so a large file shows progress and can be cancelled."""
    try:
        size = path.stat().st_size
        chunks: list[bytes] = []
        done = 0
        with path.open("rb") as source:
            while chunk := source.read(_READ_CHUNK):
                control.check()
                chunks.append(chunk)
                done += len(chunk)
                control.progress(done, size, f"Reading {path.name}…")
        return b"".join(chunks)
    except OSError as exc:
        raise ValidationError({"file": f"{path.name} could not be read: {exc.strerror or exc}."}) from exc


def _is_file_error(error: BaseException, kind: ImportKind) -> bool:
    """The whole file is refused (not a row of it): wrong encoding, not CSV, columns missing…"""
    if isinstance(error, kind.rejected):
        return False  # the rows' problems, shown in the preview
    return isinstance(error, ValidationError) and set(error.fields) == {"file"}


class ImportDialog(QDialog):
    """Preview and import a file of `kind`. `imported` carries the result after the import was
    committed. `load_file(path)` previews a file as choosing or dropping it does."""

    imported = Signal(object)

    def __init__(self, session: AppSession, kind: ImportKind, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.kind = kind
        self.service = kind.service(session)
        #: The latest preview (or the import's outcome), None before the first one.
        self.import_result: ImportOutcome | None = None
        self.path: Path | None = None
        self._data: bytes | None = None
        self._task: Task[Any] | None = None
        #: Asks a running import to stop (the service checks it between rows).
        self._stop: threading.Event | None = None
        self.rows_grid: GridView | None = None
        self.problems_grid: GridView | None = None
        self._sized = False  # sized to the window it belongs to when first shown
        self.setObjectName("importDialog")
        self.setWindowTitle(kind.title)
        self.setAcceptDrops(True)

        self.file_label = QLabel("No file chosen", self)
        self.file_label.setObjectName("hint")
        self.file_label.setAccessibleName("File")
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.choose_button = QPushButton("Choose file…", self)
        self.choose_button.setAccessibleName(f"Choose a {kind.file_kind} file")
        self.choose_button.clicked.connect(self.choose_file)
        file_row = QHBoxLayout()
        file_row.addWidget(self.choose_button)
        file_row.addWidget(self.file_label, 1)

        self.progress_row = ProgressRow("Stop reading or importing", self)
        self.progress, self.progress_label = self.progress_row.bar, self.progress_row.label
        self.cancel_button = self.progress_row.cancel_button
        self.cancel_button.clicked.connect(self.cancel)

        self.message_bar = MessageBar(self)
        self.summary = StatusLine(self)
        self.summary.setAccessibleName("Summary")
        font = self.summary.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.summary.setFont(font)

        self.stack = QStackedWidget(self)
        self.empty = hint(EMPTY_HINT, self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.empty)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setChildrenCollapsible(False)
        self.problems_panel, self._problems_layout = self._panel("Problems")
        self.rows_panel, self._rows_layout = self._panel("Rows")
        self.splitter.addWidget(self.problems_panel)
        self.splitter.addWidget(self.rows_panel)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        self.stack.addWidget(self.splitter)

        self.note = hint("", self)  # what a grid did: "Exported 12 problems to …"
        self.buttons = QDialogButtonBox(self)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.ApplyRole)
        self.import_button.setObjectName("importButton")
        # Never pressed by Enter, not even when focused (see keyPressEvent): Space or a click.
        self.import_button.setAutoDefault(False)
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.start_import)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.note, 1)
        bottom.addWidget(self.buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(heading(kind.title, self, 1.3))
        layout.addWidget(hint(kind.explanation, self))
        layout.addLayout(file_row)
        layout.addWidget(self.progress_row)
        layout.addWidget(self.message_bar)
        layout.addWidget(self.summary)
        layout.addWidget(self.stack, 1)
        layout.addLayout(bottom)
        self.setMinimumSize(self.fontMetrics().horizontalAdvance("M") * 48, 420)

    def _panel(self, title: str) -> tuple[QWidget, QVBoxLayout]:
        panel = QWidget(self)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(heading(title, panel, 1.0))
        return panel, layout

    # -- what callers use ----------------------------------------------------------------------

    @property
    def is_busy(self) -> bool:
        """A file is being read or checked, or an import is running."""
        return self._task is not None

    @property
    def is_settled(self) -> bool:
        """Nothing is running and the grids shown have their rows (tests and screenshots wait for it)."""
        grids = [g for g in (self.rows_grid, self.problems_grid) if g is not None and g.isVisibleTo(self)]
        return not self.is_busy and all(g.model.is_loaded for g in grids)

    @property
    def message(self) -> UserMessage | None:
        """The problem shown above the preview (a file that cannot be read, a refusal), if any."""
        return self.message_bar.message if self.message_bar.isVisibleTo(self) else None

    def choose_file(self) -> None:
        settings = QSettings()
        folder = str(settings.value(self.kind.directory_key, "") or "") or QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation
        )
        caption = f"Choose a {self.kind.file_kind} file to import"
        name, _ = QFileDialog.getOpenFileName(self, caption, folder, self.kind.file_filter)
        if name:
            self.load_file(Path(name))

    def load_file(self, path: Path) -> None:
        """Read and check `path` in the background; the preview replaces whatever was shown."""
        if self._stop is not None:
            return  # an import is running: its outcome comes first
        QSettings().setValue(self.kind.directory_key, str(path.parent))
        self.path = path
        self.import_button.show()
        self.close_button.setDefault(False)
        self.file_label.setText(str(path))
        self.file_label.setToolTip(str(path))
        self._data = None
        self._show_result(None)
        self.empty.setText("")  # the progress bar above says what is happening
        self.summary.say("")
        self.message_bar.dismiss()
        service, actor, name = self.service, self.session.actor, path.name

        def check(control: TaskControl) -> tuple[bytes, ImportOutcome]:
            data = read_file(path, control)
            control.progress(0, None, f"Checking {name}…")
            result = service.preview(
                actor,
                data,
                name,
                progress=lambda done, total: control.progress(done, total, f"Checking {name}…"),
                cancelled=lambda: control.cancelled,
            )
            return data, result

        self._run(check, self._previewed, f"Check {name} for import", f"Reading {name}…")

    def start_import(self) -> None:
        """Import the previewed file (all or nothing); the service checks everything again."""
        result, data = self.import_result, self._data
        if self.is_busy or result is None or data is None or not self._importable(result):
            return
        service, actor, name = self.service, self.session.actor, result.file_name
        stop = self._stop = threading.Event()

        def commit(control: TaskControl) -> ImportOutcome:
            return service.commit(
                actor,
                data,
                name,
                progress=lambda done, total: control.progress(done, total, f"Importing {name}…"),
                cancelled=stop.is_set,
            )

        self.message_bar.dismiss()
        self._run(commit, self._committed, f"Import {name}", f"Importing {name}…")

    def cancel(self) -> None:
        """Stop what is running: a preview is dropped, an import is asked to stop and write nothing."""
        if self._stop is not None:
            self._stop.set()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Stopping…")
        elif self._task is not None:
            self._task.cancel()
            self._ended(self._task)
            self._data = None
            self.empty.setText(EMPTY_HINT)
            self.summary.say(STOPPED)

    # -- running -------------------------------------------------------------------------------

    def _run(
        self, work: Callable[[TaskControl], Any], done: Callable[[Any], None], description: str, text: str
    ) -> None:
        if self._task is not None and self._stop is None:
            self._task.cancel()
        task = self.session.runner.submit(
            work,
            on_done=done,
            on_error=self._failed,
            on_progress=self._progressed,
            key=f"import-{id(self)}",
            owner=self,
            description=description,
        )
        self._task = task
        task.finished.connect(lambda: self._ended(task))
        self.progress.setRange(0, 0)
        self.progress_label.setText(text)
        self.cancel_button.setEnabled(True)
        self.progress_row.show()
        self._update_buttons()

    def _ended(self, task: Task[Any]) -> None:
        if self._task is not task:
            return  # an older task (replaced by a newer file) ending late
        self._task = None
        self._stop = None
        self.progress_row.hide()
        self._update_buttons()

    def _progressed(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)
        stopping = self._stop is not None and self._stop.is_set()
        if text and not stopping:
            self.progress_label.setText(text)

    def _previewed(self, outcome: tuple[bytes, ImportOutcome]) -> None:
        self._data, result = outcome
        self._show_result(result)
        if not result.ok:
            self.summary.say(result.summary, "error")
        elif not self._importable(result):
            self.summary.say(self.kind.nothing_to_import)
        else:
            self.summary.say(result.summary)

    def _committed(self, result: ImportOutcome) -> None:
        self._data = None  # imported: the same bytes are not offered again
        self._show_result(result)
        done = [f"{self.kind.count(result.created)} created"] if result.created else []
        done += [f"{self.kind.count(result.updated)} updated"] if result.updated else []
        self.summary.say(f"Imported {result.file_name}: {', '.join(done) or 'nothing changed'}.", "success")
        self.imported.emit(result)
        self.import_button.hide()
        self.close_button.setDefault(True)
        self.close_button.setFocus()

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, self.kind.rejected):
            # The data changed since the preview: the service's new findings replace it.
            result: ImportOutcome = getattr(error, "result")  # noqa: B009 - every `rejected` has one
            self._data = None
            self._show_result(result)
            self.summary.say(f"{result.summary} {self.kind.changed_since}", "error")
            return
        if isinstance(error, ImportCancelled):
            self.summary.say(STOPPED)
            return
        message = describe(error)
        file_error = _is_file_error(error, self.kind)
        if file_error:
            self._data = None
            self._show_result(None)
            self.summary.say("")
            message = UserMessage(FILE_TITLE, message.text, Severity.ERROR)
        if self.import_result is None:
            self.empty.setText(RETRY_HINT if file_error else EMPTY_HINT)
        self.message_bar.show_message(message)

    # -- showing -------------------------------------------------------------------------------

    def _show_result(self, result: ImportOutcome | None) -> None:
        """The preview's grids (new ones over the new records), or the empty page without one."""
        self.import_result = result
        for grid in (self.rows_grid, self.problems_grid):
            if grid is not None:
                grid.hide()
                grid.setParent(None)
                grid.deleteLater()
        self.rows_grid = self.problems_grid = None
        if result is None:
            self.stack.setCurrentWidget(self.empty)
            self._update_buttons()
            return
        rows = RowsTable[Any](self.kind.rows_spec, result.rows, search=self.kind.row_search)
        self.rows_grid = self._grid(rows, row_style)
        self._rows_layout.addWidget(self.rows_grid, 1)
        self.problems_panel.setVisible(bool(result.problems))
        if result.problems:
            table = RowsTable[ImportProblem](PROBLEMS_SPEC, result.problems, search=PROBLEM_SEARCH)
            self.problems_grid = self._grid(table, None)
            self._problems_layout.addWidget(self.problems_grid, 1)
            # The rows to fix first; "All rows" is one click away.
            self.rows_grid.set_filter("problems", True)
        self.stack.setCurrentWidget(self.splitter)
        self._update_buttons()

    def _grid(self, table: RowsTable[Any], style: Callable[[Any], str | None] | None) -> GridView:
        grid = GridView(self.session, table, row_style=style, parent=self)
        grid.status_message.connect(self.note.setText)
        return grid

    @staticmethod
    def _importable(result: ImportOutcome) -> bool:
        return result.ok and not result.committed and result.created + result.updated > 0

    def _update_buttons(self) -> None:
        result = self.import_result
        importing = self._stop is not None
        self.choose_button.setEnabled(not importing)
        ready = result is not None and self._data is not None and self._importable(result)
        if result is not None and ready:
            self.import_button.setText(f"Import {self.kind.count(result.created + result.updated)}")
        else:
            self.import_button.setText("Import")
        self.import_button.setEnabled(ready and not self.is_busy)

    # -- window --------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not event.spontaneous() and not self._sized:
            self._sized = True
            parent = self.parentWidget()
            if parent is not None:
                window = parent.window()
                size = window.size()
                self.resize(max(self.minimumWidth(), round(size.width() * 0.9)), round(size.height() * 0.9))
                # Qt placed the dialog for its first, smaller size: centre the grown one again.
                self.move(window.geometry().center() - self.rect().center())
            else:
                self.resize(1100, 720)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter that no widget took (the search box and the grids pass it on) presses nothing:
        QDialog would press its default button, and when shown it makes the first auto-default
        button (Choose file…) the default. A focused button still takes Enter itself."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)

    def reject(self) -> None:
        """Esc, Close or the window's close button: a running preview stops; a running import is
        asked to stop (if it finishes first it was imported, and `imported` still says so)."""
        self.cancel()
        super().reject()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_file(event) is not None and self._stop is None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_file(event)
        if path is not None:
            event.acceptProposedAction()
            self.load_file(path)

    @staticmethod
    def _dropped_file(event: QDragEnterEvent | QDropEvent) -> Path | None:
        """One local file (what it is, the service decides from its content)."""
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if len(urls) != 1 or not urls[0].isLocalFile():
            return None
        return Path(urls[0].toLocalFile())
