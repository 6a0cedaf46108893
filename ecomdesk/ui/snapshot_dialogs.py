"""The app's side of offline snapshots: choosing a file to open, asking for its passphrase, the
banner and details of the snapshot shown, and the dialog that takes a new one.

Opening itself is the shell's (`ui.app.Shell.open_snapshot`): it replaces the window set the way
"Switch connection…" does. Taking one runs `services.snapshots.create` on the task runner with a
progress bar and a Cancel that leaves no file behind (the service builds the file under another
name and renames it only when complete).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path
from typing import Final

from PySide6.QtCore import QEvent, QLocale, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.bootstrap import OpenSnapshot
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.snapshots import SnapshotCancelled, SnapshotInfo
from ecomdesk.services.tables import Kind
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import Field, FormGrid, StatusLine, clear_errors, grow_to_fit, show_errors
from ecomdesk.ui.grid.format import datetime_text, display_text
from ecomdesk.ui.pages.report_dialogs import size_text
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import Task, TaskControl
from ecomdesk.ui.theme import is_theme_change, text_colour, tint
from ecomdesk.ui.widgets import ProgressRow, heading, hint

SUFFIX: Final = ".ecomsnap"
FILE_FILTER: Final = "ecomdesk snapshots (*.ecomsnap);;All files (*)"
WRONG_PASSPHRASE: Final = "That passphrase does not open this snapshot."
STOPPED: Final = "Stopped: no snapshot was made."
#: Characters no file name may hold on one desktop or another.
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def taken_text(info: SnapshotInfo, locale: QLocale | None = None) -> str:
    """When the snapshot was taken, on this computer's clock (as every time in the grids)."""
    return datetime_text(info.created_at, locale or QLocale())


def count_text(count: int, locale: QLocale) -> str:
    """A row count as the grids write it (grouped digits, whatever the locale)."""
    return display_text(count, Kind.INTEGER, locale)


def banner_text(info: SnapshotInfo) -> str:
    return f"Snapshot of {info.shop_name} taken {taken_text(info)} — read-only"


def origin_text(opened: OpenSnapshot) -> str:
    """Who made it, from where, and which file: the banner's tooltip."""
    info = opened.info
    maker = f"{info.created_by_name} ({info.created_by})" if info.created_by_name else info.created_by
    return (
        f"Made by {maker} from {info.source_server}, database {info.source_database} "
        f"(PostgreSQL {info.server_version}), schema {info.schema_revision}.\nFile: {opened.path}\n"
        "Nothing can be changed here, and nothing asks a server: what you see is the shop as it was then."
    )


def default_file_name(shop_name: str, today: dt.date) -> str:
    """`<shop>-<YYYY-MM-DD>.ecomsnap`, with what no file system allows taken out of the name."""
    shop = _UNSAFE.sub("-", shop_name).strip(" .-") or "shop"
    return f"{shop}-{today.isoformat()}{SUFFIX}"


def with_suffix(path: Path) -> Path:
    """A name typed without an extension gets `.ecomsnap` (the open dialog's filter looks for it)."""
    return path if path.suffix else path.with_name(path.name + SUFFIX)


def choose_snapshot(parent: QWidget, preferences: Preferences) -> Path | None:
    """Ask which snapshot to open, starting in the folder of the last one."""
    chosen, _filter = QFileDialog.getOpenFileName(
        parent, "Open snapshot", preferences.snapshot_folder or str(Path.home()), FILE_FILTER
    )
    if not chosen:
        return None
    path = Path(chosen)
    preferences.snapshot_folder = str(path.parent)
    return path


class PassphraseDialog(QDialog):
    """Ask for the passphrase of an encrypted snapshot; says so when the last one did not open it."""

    def __init__(self, path: Path, *, wrong: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Snapshot passphrase")
        self.setObjectName("passphraseDialog")
        self.intro = QLabel(
            f"{path.name} is protected with a passphrase. Enter it to open the snapshot.", self
        )
        self.intro.setWordWrap(True)
        self.passphrase = QLineEdit(self)
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setAccessibleName("Passphrase")
        self.problem = QLabel(WRONG_PASSPHRASE if wrong else "", self)
        self.problem.setObjectName("fieldError")
        self.problem.setVisible(wrong)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self._accept_if_given)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.passphrase)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 28)
        self.passphrase.setFocus()

    @property
    def value(self) -> str:
        return self.passphrase.text()

    def _accept_if_given(self) -> None:
        if self.value:
            self.accept()


class SnapshotBanner(QFrame):
    """Across the top of a window on a snapshot: whose shop, when, and that it is read-only."""

    details_requested = Signal()

    def __init__(self, opened: OpenSnapshot, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("snapshotBanner")
        self.setAccessibleName("Snapshot")
        self.label = QLabel(banner_text(opened.info), self)
        self.label.setObjectName("snapshotBannerText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.label.font()
        font.setBold(True)
        self.label.setFont(font)
        self.setToolTip(origin_text(opened))
        self.details_button = QPushButton("Details…", self)
        self.details_button.setAccessibleName("Details of the snapshot")
        self.details_button.setToolTip("Who took it, from where, and how many rows of each table it holds.")
        self.details_button.clicked.connect(self.details_requested)
        row = QHBoxLayout(self)
        row.addWidget(self.label, 1)
        row.addWidget(self.details_button)
        self._restyle()

    @property
    def text(self) -> str:
        return self.label.text()

    def _restyle(self) -> None:
        # The application's palette (this widget's own is tinted by the sheet set here), as the
        # message bar does: the warning hue, readable in light and dark.
        palette = QApplication.palette()
        background, border = tint(palette, "warning")
        sheet = (
            f"QFrame#snapshotBanner {{ background: {background.name()}; border: 1px solid {border.name()};"
            " border-radius: 0.3em; }"
            f" QLabel#snapshotBannerText {{ color: {text_colour(palette, 'warning').name()}; }}"
        )
        if sheet != self.styleSheet():
            self.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:
        if is_theme_change(event):
            self._restyle()
        super().changeEvent(event)


class SnapshotDetailsDialog(QDialog):
    """Everything a snapshot says about itself: origin, checksum, and the rows of each table."""

    def __init__(self, opened: OpenSnapshot, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        info = opened.info
        locale = QLocale()
        self.setWindowTitle("Snapshot details")
        self.setObjectName("snapshotDetails")
        grid = FormGrid()
        maker = f"{info.created_by_name} ({info.created_by})" if info.created_by_name else info.created_by
        size = opened.path.stat().st_size if opened.path.exists() else None
        for label, value in (
            ("Shop", info.shop_name),
            ("Taken", taken_text(info, locale)),
            ("Taken by", maker),
            ("Server", info.source_server),
            ("Database", f"{info.source_database} (PostgreSQL {info.server_version})"),
            ("Schema", info.schema_revision),
            ("Made with", f"ecomdesk {info.app_version}, snapshot format {info.format}"),
            ("File", str(opened.path)),
            ("Size", size_text(size, locale)),
            ("Encrypted", "Yes, with a passphrase" if info.encrypted else "No"),
            ("Checksum", info.checksum),
        ):
            text = QLabel(value, self)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.add_row(label, text)
        self.tables = QTableWidget(len(info.row_counts), 3, self)
        self.tables.setAccessibleName("Rows per table")
        self.tables.setHorizontalHeaderLabels(["Table", "Rows", "Left out"])
        self.tables.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.tables.verticalHeader().hide()
        self.tables.verticalHeader().setDefaultSectionSize(round(self.fontMetrics().height() * 1.5))
        for row, (name, count) in enumerate(sorted(info.row_counts.items())):
            rows = QTableWidgetItem(count_text(count, locale))
            rows.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column, item in enumerate(
                (QTableWidgetItem(name), rows, QTableWidgetItem(info.left_out.get(name, "")))
            ):
                self.tables.setItem(row, column, item)
        self.tables.resizeColumnsToContents()  # (a few dozen rows: cheap)
        self.tables.horizontalHeader().setStretchLastSection(True)
        left_out = len(info.left_out)
        summary = hint(
            f"{count_text(sum(info.row_counts.values()), locale)} rows in {len(info.row_counts)} tables"
            + (f"; {left_out} tables left out (copied empty), with the reason." if left_out else "."),
            self,
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(summary)
        layout.addWidget(self.tables, 1)
        layout.addWidget(buttons)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(max(em * 48, self.fontMetrics().horizontalAdvance("0" * 64) + em * 12), em * 60)


class CreateSnapshotDialog(QDialog):
    """File → Create snapshot…: where to, and an optional passphrase; then the copy with progress
    and Cancel, and what was made (with "Open it")."""

    #: "Open it" after a snapshot was made: the shell opens that file.
    open_requested = Signal(object)  # Path

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Create snapshot")
        self.setObjectName("createSnapshot")
        self.made: SnapshotInfo | None = None
        self.made_path: Path | None = None
        self._task: Task[SnapshotInfo] | None = None
        self._stop: threading.Event | None = None

        intro = hint(
            "A read-only copy of everything you may see, in one file, to take where there is no "
            "server. Passwords and sign-ins never go into it. Open it with File → Open snapshot…",
            self,
        )
        shop = session.shop.shop_name if session.shop else "shop"
        folder = Path(session.preferences.snapshot_folder or Path.home())
        self.file = QLineEdit(str(folder / default_file_name(shop, dt.date.today())), self)
        self.file.setAccessibleName("Snapshot file")
        self.choose_button = QPushButton("Choose…", self)
        self.choose_button.setAccessibleName("Choose the snapshot file")
        self.choose_button.clicked.connect(self.choose_file)
        file_row = QWidget(self)
        row = QHBoxLayout(file_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.file, 1)
        row.addWidget(self.choose_button)
        self.protect = QCheckBox("Protect it with a passphrase", self)
        self.protect.toggled.connect(self._protect_toggled)
        self.passphrase = QLineEdit(self)
        self.passphrase.setAccessibleName("Passphrase")
        self.repeat = QLineEdit(self)
        self.repeat.setAccessibleName("Passphrase again")
        for edit in (self.passphrase, self.repeat):
            edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.fields = {
            "file": Field(file_row, self),
            "passphrase": Field(self.passphrase, self),
            "repeat": Field(self.repeat, self),
        }
        self.note = hint(
            "The snapshot is encrypted (SQLCipher) and opens only with this passphrase. Keep it "
            "safe: a lost passphrase cannot be recovered, and neither can the snapshot.",
            self,
        )
        form = FormGrid()
        form.add_row("&File", self.fields["file"], buddy=self.file)
        form.add_row("", self.protect)
        #: Shown with the passphrase fields only (their labels included).
        self.passphrase_rows: list[QWidget] = [self.fields["passphrase"], self.fields["repeat"], self.note]
        for text, field, buddy in (
            ("&Passphrase", self.fields["passphrase"], self.passphrase),
            ("&Repeat", self.fields["repeat"], self.repeat),
        ):
            label = form.add_row(text, field, buddy=buddy)
            if label is not None:
                self.passphrase_rows.append(label)
        form.add_row("", self.note)

        self.progress_row = ProgressRow("Stop making the snapshot", self)
        self.progress, self.progress_label = self.progress_row.bar, self.progress_row.label
        self.cancel_button = self.progress_row.cancel_button
        self.cancel_button.clicked.connect(self.cancel)
        self.status = StatusLine(self)
        self.outcome = QLabel(self)
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outcome.hide()

        self.buttons = QDialogButtonBox(self)
        self.create_button = self.buttons.addButton("Create snapshot", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button.setDefault(True)
        self.open_button = self.buttons.addButton("Open it", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.hide()
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.create_button.clicked.connect(self.start)
        self.open_button.clicked.connect(self._open_made)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Create snapshot", self, 1.3))
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.progress_row)
        layout.addWidget(self.status)
        layout.addWidget(self.outcome)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        # Room for a full path and the 64 digits of the checksum.
        em = self.fontMetrics().horizontalAdvance("M")
        self.setMinimumWidth(max(em * 44, self.fontMetrics().horizontalAdvance("0" * 64) + em * 4))
        self._protect_toggled(False)

    # -- input ---------------------------------------------------------------------------------

    @property
    def is_busy(self) -> bool:
        return self._task is not None

    def target(self) -> Path:
        return with_suffix(Path(self.file.text().strip()).expanduser())

    def choose_file(self) -> None:
        chosen, _filter = QFileDialog.getSaveFileName(
            self, "Create snapshot", str(self.target()), FILE_FILTER
        )
        if chosen:
            self.file.setText(str(with_suffix(Path(chosen))))

    def _protect_toggled(self, on: bool) -> None:
        for edit in (self.passphrase, self.repeat):
            edit.setEnabled(on and not self.is_busy)
        for row in self.passphrase_rows:
            row.setVisible(on)
        grow_to_fit(self)

    def _check(self) -> dict[str, str]:
        problems: dict[str, str] = {}
        if not self.file.text().strip():
            problems["file"] = "Choose where the snapshot goes."
        if self.protect.isChecked():
            if not self.passphrase.text():
                problems["passphrase"] = "Enter a passphrase, or untick the protection."
            elif self.passphrase.text() != self.repeat.text():
                problems["repeat"] = "The two passphrases differ: type the same one twice."
        return problems

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Take the snapshot (on the task runner); the inputs stay whatever happens."""
        if self.is_busy:
            return
        problems = self._check()
        if problems:
            show_errors(self.fields, ValidationError(problems))
            self.status.say("")
            grow_to_fit(self)
            return
        clear_errors(self.fields)
        target = self.target()
        self.file.setText(str(target))
        passphrase = self.passphrase.text() if self.protect.isChecked() else None
        service, actor = self.session.services.snapshots, self.session.actor
        label = self.session.database_label
        stop = self._stop = threading.Event()

        def work(control: TaskControl) -> SnapshotInfo:
            return service.create(
                actor,
                target,
                passphrase=passphrase,
                source_label=label,
                progress=lambda done, total: control.progress(
                    done, total, f"Copying rows… {done:,} of {total:,}"
                ),
                cancelled=lambda: stop.is_set() or control.cancelled,
            )

        self.made = self.made_path = None
        self.outcome.hide()
        self.open_button.hide()
        self.status.say("")
        task = self.session.runner.submit(
            work,
            on_done=lambda info: self.show_made(target, info),
            on_error=self._failed,
            on_progress=self._progressed,
            owner=self,
            description="create a snapshot",
        )
        self._task = task
        task.finished.connect(lambda: self._ended(task))
        self.progress.setRange(0, 0)
        self.progress_label.setText(f"Reading {self.session.database_label or 'the database'}…")
        self.cancel_button.setEnabled(True)
        self.progress_row.show()
        self._update_inputs()
        self.session.preferences.snapshot_folder = str(target.parent)

    def cancel(self) -> None:
        """Ask the copy to stop; the service removes what it wrote."""
        if self._stop is not None and not self._stop.is_set():
            self._stop.set()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Stopping…")

    def _progressed(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        if text and not (self._stop is not None and self._stop.is_set()):
            self.progress_label.setText(text)

    def _ended(self, task: Task[SnapshotInfo]) -> None:
        if self._task is task:
            self._task = None
            self._stop = None
            self.progress_row.hide()
            self._update_inputs()

    def show_made(self, target: Path, info: SnapshotInfo) -> None:
        """What was made: file, size, rows, checksum, and "Open it"."""
        self.made, self.made_path = info, target
        locale = QLocale()
        size = target.stat().st_size if target.exists() else None
        rows = count_text(sum(info.row_counts.values()), locale)
        left_out = f"\nLeft out (copied empty): {', '.join(sorted(info.left_out))}." if info.left_out else ""
        self.status.say(f"Snapshot made: {target.name}", "success")
        self.outcome.setText(
            f"File: {target}\nSize: {size_text(size, locale)}\nRows: {rows} in {len(info.row_counts)} tables"
            f"\nChecksum (SHA-256):\n{info.checksum}{left_out}"
        )
        self.outcome.show()
        self.open_button.show()
        self.open_button.setDefault(True)
        grow_to_fit(self)

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, SnapshotCancelled):
            self.status.say(STOPPED)
            return
        if isinstance(error, ValidationError):
            for message in show_errors(self.fields, error):
                self.status.say(message, "error")
            grow_to_fit(self)
            return
        self.status.say(describe(error).text, "error")
        grow_to_fit(self)

    def _update_inputs(self) -> None:
        busy = self.is_busy
        for widget in (self.file, self.choose_button, self.protect, self.create_button):
            widget.setEnabled(not busy)
        for widget in (self.passphrase, self.repeat):
            widget.setEnabled(not busy and self.protect.isChecked())

    def _open_made(self) -> None:
        if self.made_path is not None:
            path = self.made_path
            self.accept()
            self.open_requested.emit(path)

    def reject(self) -> None:
        self.cancel()  # closing while it copies stops the copy: no half-made file stays
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()
        super().closeEvent(event)
