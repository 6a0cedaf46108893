"""The dialogs of the reports page: requesting a new report, and the preview of a completed one —
plus the words both use for a report (its status, its parameters) and "Save as…".

The new-report form is built from the kind's `Param`s, so a new kind needs no form of its own: a
date is a date edit with a calendar, a number a spin box, a choice a list of the values the service
offers. A refused request keeps every input and puts each message next to its field.

The preview reads the first `PREVIEW_ROWS` rows of the stored report into a `RowsTable`, so the grid
sorts, searches and exports them like any list; "Save as…" writes the whole stored file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from PySide6.QtCore import QDate, QLocale, QSettings, QStandardPaths, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import ValidationError
from ecomdesk.services.report_kinds import REPORT_KINDS, Param, ParamType
from ecomdesk.services.reports import (
    ReportKindInfo,
    ReportPreview,
    ReportRequest,
    ReportRow,
)
from ecomdesk.services.row_table import RowsTable
from ecomdesk.services.tables import Choice, Kind
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import (
    Field,
    FormGrid,
    StatusKind,
    StatusLine,
    clear_errors,
    grow_to_fit,
    show_errors,
)
from ecomdesk.ui.grid import GridView
from ecomdesk.ui.grid.export import DIRECTORY_KEY
from ecomdesk.ui.grid.format import display_text
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import Task, TaskControl, show_progress
from ecomdesk.ui.widgets import busy_bar, heading, hint, size_for_rows

#: The formats a report is written in, as the dialog offers them.
FORMATS: Final = (("csv", "CSV (spreadsheets)"), ("json", "JSON (programs)"))
FILTERS: Final = {"csv": "CSV files (*.csv)", "json": "JSON files (*.json)"}
#: What an optional number left empty means, where the kind's rule is known; others say "Not set".
EMPTY_NUMBER: Final = {"threshold": "Each item's reorder level"}
#: Columns of a CHOICES parameter's boxes.
CHOICES_COLUMNS: Final = 3
#: The largest number a spin box offers (stock and thresholds stay far below).
MAX_NUMBER: Final = 1_000_000_000
#: Waiting for typing to rest before asking the service for the default title.
TITLE_DELAY_MS: Final = 250
STATUS_WORDS: Final = {
    "pending": "Pending",
    "processing": "Processing…",
    "completed": "Completed",
    "failed": "Failed",
}


# -- words for a report ---------------------------------------------------------------------------


def kind_title(kind: str) -> str:
    found = REPORT_KINDS.get(kind)
    return found.title if found is not None else kind


def status_text(report: ReportRow, locale: QLocale | None = None) -> str:
    """ "Completed", "Failed", "Pending", or "Processing… 12,345 rows" while rows are being written."""
    words = STATUS_WORDS.get(report.status, report.status.capitalize())
    if report.status == "processing" and report.row_count:
        return f"{words} {display_text(report.row_count, Kind.INTEGER, locale or QLocale())} rows"
    return words


def size_text(size: int | None, locale: QLocale | None = None) -> str:
    if size is None:
        return ""
    locale = locale or QLocale()
    exact = display_text(size, Kind.INTEGER, locale)
    if size < 1024:
        return f"{exact} bytes"
    return f"{locale.formattedDataSize(size)} ({exact} bytes)"


def value_text(param: Param, value: Any, locale: QLocale) -> str:
    """One parameter's value in words (stored values: dates as ISO text, lists, None)."""
    if param.type is ParamType.CHOICES:
        values = [str(v) for v in value or ()]
        return ", ".join(values) if values else "All"
    if value is None or value == "":
        if param.type is ParamType.CHOICE:
            return "All"
        if param.type is ParamType.INTEGER:
            return EMPTY_NUMBER.get(param.key, "Not set")
        return "—"
    if param.type is ParamType.DATE:
        day = value if isinstance(value, dt.date) else _iso_date(value)
        return display_text(day, Kind.DATE, locale) if day is not None else str(value)
    if param.type is ParamType.BOOL:
        return "Yes" if value else "No"
    if param.type is ParamType.INTEGER and isinstance(value, int):
        return display_text(value, Kind.INTEGER, locale)
    return str(value)


def _iso_date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def parameter_lines(kind: str, parameters: Mapping[str, Any], locale: QLocale | None = None) -> list[str]:
    """ "Title: value" per parameter, in the kind's order (unknown keys last, as stored)."""
    locale = locale or QLocale()
    found = REPORT_KINDS.get(kind)
    params = list(found.params) if found is not None else []
    known = {param.key for param in params}
    lines = [f"{param.title}: {value_text(param, parameters.get(param.key), locale)}" for param in params]
    for key, value in parameters.items():
        if key not in known:
            lines.append(f"{key.replace('_', ' ').capitalize()}: {value if value not in (None, '') else '—'}")
    return lines


def safe_file_name(title: str) -> str:
    """A file name from a report's title that every file system accepts."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title)
    name = re.sub(r"\s+", " ", name).strip(" .")
    return name[:120] or "report"


# -- Save as… -------------------------------------------------------------------------------------


def ask_save_path(parent: QWidget, report: ReportRow) -> Path | None:
    """The file to save `report` to, asked with the format's filter; None: the person cancelled."""
    settings = QSettings()
    folder = str(settings.value(DIRECTORY_KEY, "") or "") or QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.DocumentsLocation
    )
    suffix = f".{report.format}"
    suggested = Path(folder) / f"{safe_file_name(report.title)}{suffix}"
    name, _filter = QFileDialog.getSaveFileName(
        parent, f"Save “{report.title}”", str(suggested), f"{FILTERS.get(report.format, '')};;All files (*)"
    )
    if not name:
        return None
    path = Path(name).expanduser()
    if not path.suffix:
        path = path.with_suffix(suffix)
    settings.setValue(DIRECTORY_KEY, str(path.parent))
    return path


def save_report(
    session: AppSession,
    parent: QWidget,
    report: ReportRow,
    say: Callable[[str, StatusKind], None],
) -> Task[int] | None:
    """Save as…: ask for the file, then copy the stored report into it on the task runner, with a
    progress dialog that can cancel. `say(text, kind)` tells the person how it ended."""
    path = ask_save_path(parent, report)
    if path is None:
        return None
    services, actor, report_id = session.services, session.actor, report.id

    def work(control: TaskControl) -> int:
        control.check()
        return services.reports.save(
            actor,
            report_id,
            path,
            progress=control.progress,
            cancelled=lambda: control.cancelled,
        )

    def done(size: int) -> None:
        say(f"Saved “{report.title}” to {path} ({size_text(size)}).", "success")

    task = session.runner.submit(
        work,
        on_done=done,
        on_error=lambda error: say(f"“{report.title}” was not saved. {describe(error).text}", "error"),
        owner=parent,
        description=f"save {report.title} to {path.name}",
    )
    task.finished.connect(lambda: say("Not saved: cancelled.", "hint") if task.cancelled else None)
    show_progress(task, parent, f"Saving “{report.title}”…")
    return task


# -- the new-report dialog ------------------------------------------------------------------------


@dataclass(frozen=True)
class _KindForm:
    """What a kind's form starts from: its typed defaults and the values its choices offer."""

    kind: str
    defaults: dict[str, Any]
    choices: dict[str, list[Choice]]


class ParamInput:
    """One parameter's input, whatever its type: a widget to lay out and a typed value to read."""

    def __init__(
        self, param: Param, choices: Sequence[Choice], parent: QWidget, *, optional: bool | None = None
    ) -> None:
        """`optional`: the input offers "none" ("All", "Not set"); by default, when the parameter
        is not required (one whose default is a value, like a grouping, offers none)."""
        self.param = param
        optional = not param.required if optional is None else optional
        self.widget: QWidget
        #: Emitted (with whatever arguments) when the person changes the value.
        self.changed: list[SignalInstance] = []
        #: A CHOICES parameter's boxes, with the value each stands for.
        self.boxes: list[tuple[QCheckBox, Any]] = []
        match param.type:
            case ParamType.DATE:
                edit = QDateEdit(parent)
                edit.setCalendarPopup(True)
                edit.setDisplayFormat("yyyy-MM-dd")
                self.changed = [edit.dateChanged]
                self.widget = edit
            case ParamType.INTEGER:
                spin = QSpinBox(parent)
                spin.setAlignment(Qt.AlignmentFlag.AlignRight)
                spin.setGroupSeparatorShown(True)
                if not optional:
                    spin.setRange(0, MAX_NUMBER)
                else:  # the lowest value stands for "none": the special text says what that means
                    spin.setRange(-1, MAX_NUMBER)
                    spin.setSpecialValueText(EMPTY_NUMBER.get(param.key, "Not set"))
                    spin.setValue(-1)
                self.changed = [spin.valueChanged]
                self.widget = spin
            case ParamType.BOOL:
                box = QCheckBox(param.title, parent)
                self.changed = [box.toggled]
                self.widget = box
            case ParamType.CHOICE:
                combo = QComboBox(parent)
                if optional:
                    combo.addItem("All", None)
                for choice in choices:
                    combo.addItem(choice.label, choice.value)
                combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
                combo.setMinimumContentsLength(12)
                self.changed = [combo.currentIndexChanged]
                self.widget = combo
            case ParamType.CHOICES:
                # Boxes in columns rather than a checkable list: there are a few values (channels,
                # segments), all visible at once, and a list's ticks are faint in the dark theme.
                box_panel = QWidget(parent)
                grid = QGridLayout(box_panel)
                grid.setContentsMargins(0, 0, 0, 0)
                rows = max(1, -(-len(choices) // CHOICES_COLUMNS))
                for number, choice in enumerate(choices):
                    tick = QCheckBox(choice.label, box_panel)
                    tick.setAccessibleName(f"{param.title}: {choice.label}")
                    self.boxes.append((tick, choice.value))
                    self.changed.append(tick.toggled)
                    grid.addWidget(tick, number % rows, number // rows)
                if not choices:
                    grid.addWidget(hint("Nothing to choose from yet.", box_panel), 0, 0)
                self.widget = box_panel
            case _:
                line = QLineEdit(parent)
                self.changed = [line.textChanged]
                self.widget = line
        self.widget.setAccessibleName(param.title)
        if param.help:
            self.widget.setToolTip(param.help)

    def set_value(self, value: Any) -> None:
        widget = self.widget
        if isinstance(widget, QDateEdit):
            day = value if isinstance(value, dt.date) else _iso_date(value)
            if day is not None:
                widget.setDate(QDate(day.year, day.month, day.day))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value) if value is not None else widget.minimum())
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            index = widget.findData(value)
            if index < 0 and value is not None:
                widget.addItem(str(value), value)
                index = widget.count() - 1
            widget.setCurrentIndex(max(index, 0))
        elif self.param.type is ParamType.CHOICES:
            chosen = set(value or ())
            for tick, choice in self.boxes:
                tick.setChecked(choice in chosen)
        elif isinstance(widget, QLineEdit):
            widget.setText("" if value is None else str(value))

    def value(self) -> Any:
        widget = self.widget
        if isinstance(widget, QDateEdit):
            day = widget.date()
            return dt.date(day.year(), day.month(), day.day())
        if isinstance(widget, QSpinBox):
            number = widget.value()
            return None if number < 0 else number
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QComboBox):
            return widget.currentData()
        if self.param.type is ParamType.CHOICES:
            return [choice for tick, choice in self.boxes if tick.isChecked()]
        assert isinstance(widget, QLineEdit)
        return widget.text()


class NewReportDialog(QDialog):
    """Choose a kind, its parameters, a title and a format; OK requests the report. `requested`
    carries the new `ReportRow` (pending: a runner generates it)."""

    requested = Signal(object)

    def __init__(
        self, session: AppSession, parent: QWidget | None = None, *, kind: str | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("newReportDialog")
        self.setWindowTitle("New report")
        self.kinds: list[ReportKindInfo] = []
        #: The kinds and the chosen kind's defaults and choices are in.
        self.loaded = False
        self.inputs: dict[str, ParamInput] = {}
        self._wanted_kind = kind
        self._form_kind: str | None = None

        self.kind = QComboBox(self)
        self.kind.setAccessibleName("Kind of report")
        self.kind.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.description = hint("", self)
        self.description.setAccessibleName("What the report shows")
        self.params_box = QWidget(self)
        # Only as tall as its rows: room to spare goes below the form, not between its rows.
        self.params_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.params_layout = FormGrid()
        self.params_layout.setContentsMargins(0, 0, 0, 0)
        self.params_box.setLayout(self.params_layout)
        self.title = QLineEdit(self)
        self.title.setMaxLength(200)
        self.title.setAccessibleName("Title")
        self.format = QComboBox(self)
        self.format.setAccessibleName("Format")
        for value, label in FORMATS:
            self.format.addItem(label, value)
        self.fields: dict[str, Field] = {}
        self._fixed_fields = {
            "kind": Field(self.kind, self),
            "title": Field(self.title, self),
            "format": Field(self.format, self),
        }

        form = FormGrid()
        form.add_row("&Report", self._fixed_fields["kind"], buddy=self.kind)
        form.add_row("", self.description)
        top = QVBoxLayout()
        top.addLayout(form)
        top.addWidget(self.params_box)
        bottom = FormGrid()
        bottom.add_row("&Title", self._fixed_fields["title"], buddy=self.title)
        bottom.add_row("&Format", self._fixed_fields["format"], buddy=self.format)
        self._grids = (form, self.params_layout, bottom)

        self.status = StatusLine(self)
        self.status.setAccessibleName("Request status")
        self.busy = busy_bar(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Request report")
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(bottom)
        layout.addWidget(self.status)
        layout.addWidget(self.busy)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 46)

        self._title_timer = QTimer(self)
        self._title_timer.setSingleShot(True)
        self._title_timer.setInterval(TITLE_DELAY_MS)
        self._title_timer.timeout.connect(self._ask_title)
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(lambda: grow_to_fit(self))

        self.kind.currentIndexChanged.connect(self._kind_chosen)
        self._load_kinds()

    # -- loading -------------------------------------------------------------------------------------

    def _load_kinds(self) -> None:
        services, actor = self.session.services, self.session.actor
        self._set_busy(True)
        self.session.runner.submit(
            lambda _control: services.reports.kinds(actor),
            on_done=self._kinds_loaded,
            on_error=self._load_failed,
            owner=self,
            description="read the kinds of report",
        )

    def _kinds_loaded(self, kinds: list[ReportKindInfo]) -> None:
        self.kinds = kinds
        # The three forms' labels line up: the widest label of any kind decides their first column.
        labels = ["Report", "Title", "Format"] + [
            p.title for info in kinds for p in info.params if p.type is not ParamType.BOOL
        ]
        width = max(self.fontMetrics().horizontalAdvance(label) for label in labels)
        for grid in self._grids:
            grid.setColumnMinimumWidth(0, width + grid.horizontalSpacing())
        if not kinds:
            self._set_busy(False)
            self.loaded = True
            self.status.say("Your role may not request any kind of report.", "error")
            return
        self.kind.blockSignals(True)
        for info in kinds:
            self.kind.addItem(info.title, info.name)
        wanted = self.kind.findData(self._wanted_kind) if self._wanted_kind else 0
        self.kind.setCurrentIndex(max(wanted, 0))
        self.kind.blockSignals(False)
        self._kind_chosen()

    def _load_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self.loaded = True
        self.status.say(describe(error).text, "error")

    @property
    def form_kind(self) -> str | None:
        """The kind whose parameters the form shows (None until they are in)."""
        return self._form_kind

    @property
    def current_kind(self) -> ReportKindInfo | None:
        name = self.kind.currentData()
        return next((info for info in self.kinds if info.name == name), None)

    def _kind_chosen(self) -> None:
        info = self.current_kind
        if info is None:
            return
        self.description.setText(info.description)
        services, actor, name = self.session.services, self.session.actor, info.name
        keys = [p.key for p in info.params if p.type in (ParamType.CHOICE, ParamType.CHOICES)]

        def load(control: TaskControl) -> _KindForm:
            defaults = services.reports.defaults(actor, name)
            choices: dict[str, list[Choice]] = {}
            for key in keys:
                control.check()
                choices[key] = services.reports.choices(actor, name, key)
            return _KindForm(name, defaults, choices)

        self.loaded = False
        self._set_busy(True)
        self.session.runner.submit(
            load,
            on_done=self._build_form,
            on_error=self._load_failed,
            key=f"reports.new.kind.{id(self)}",
            owner=self,
            description=f"read the parameters of {info.title}",
        )

    # -- the parameters' form ------------------------------------------------------------------------

    def _build_form(self, form: _KindForm) -> None:
        info = self.current_kind
        if info is None or info.name != form.kind:
            return  # another kind was chosen meanwhile: its own answer is on the way
        self.loaded = True
        layout = self.params_layout
        while layout.count():
            taken = layout.takeAt(0)
            if taken is not None and (widget := taken.widget()) is not None:
                widget.hide()
                widget.deleteLater()
        layout.rows = 0
        self.inputs.clear()
        self.fields = dict(self._fixed_fields)
        for param in info.params:
            optional = not param.required and form.defaults.get(param.key) is None
            entry = ParamInput(param, form.choices.get(param.key, ()), self.params_box, optional=optional)
            if param.key in form.defaults:
                entry.set_value(form.defaults[param.key])
            field = Field(entry.widget, self.params_box)
            field.setFocusProxy(entry.widget)
            self.inputs[param.key] = entry
            self.fields[param.key] = field
            label = "" if param.type is ParamType.BOOL else param.title
            layout.add_row(label, field, buddy=entry.widget)
            if param.type is ParamType.CHOICES:
                layout.add_row("", hint("None ticked: all of them.", self.params_box))
            for signal in entry.changed:
                signal.connect(lambda *_args: self._title_timer.start())
        self._form_kind = info.name
        self._set_busy(False)  # after the form's kind is set: that enables "Request report"
        self.status.say("")
        self._ask_title()
        self._fit_timer.start()

    def parameters(self) -> dict[str, Any]:
        """The typed values of the form, by parameter key."""
        return {key: entry.value() for key, entry in self.inputs.items()}

    def _ask_title(self) -> None:
        """The default title for the parameters as they are now, as the title's placeholder."""
        name = self._form_kind
        if name is None:
            return
        services, actor, parameters = self.session.services, self.session.actor, self.parameters()

        def shown(title: str) -> None:
            if self._form_kind == name:
                self.title.setPlaceholderText(title)

        self.session.runner.submit(
            lambda _control: services.reports.default_title(actor, name, parameters),
            on_done=shown,
            on_error=lambda _error: None,  # parameters still being typed: OK says what is wrong
            key=f"reports.new.title.{id(self)}",
            owner=self,
            description="the report's default title",
        )

    # -- requesting ----------------------------------------------------------------------------------

    def request(self) -> ReportRequest | None:
        name = self._form_kind
        if name is None:
            return None
        return ReportRequest(
            kind=name,
            parameters=self.parameters(),
            format=str(self.format.currentData()),
            title=self.title.text().strip() or None,
        )

    def submit(self) -> None:
        request = self.request()
        if request is None or self.busy.isVisible():
            return
        clear_errors(self.fields)
        services, actor = self.session.services, self.session.actor
        self.status.say("Requesting…")
        self._set_busy(True)
        self.session.runner.submit(
            lambda _control: services.reports.request(actor, request),
            on_done=self._requested,
            on_error=self._refused,
            owner=self,
            description=f"request {request.kind}",
        )

    def _requested(self, report: ReportRow) -> None:
        self._set_busy(False)
        self.requested.emit(report)
        self.accept()

    def _refused(self, error: BaseException) -> None:
        """Nothing typed is lost: each message next to its field, the rest in the status line."""
        self._set_busy(False)
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self.status.say(
                " ".join(["The report was not requested: please check the marked fields.", *rest]), "error"
            )
        else:
            self.status.say(f"The report was not requested. {describe(error).text}", "error")
        self._fit_timer.start()

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.ok_button.setEnabled(not busy and self._form_kind is not None)
        self.kind.setEnabled(not busy or not self.loaded)


# -- the preview ----------------------------------------------------------------------------------


class ReportPreviewDialog(QDialog):
    """A completed report's first rows in a grid, its parameters, and Save as…"""

    def __init__(self, session: AppSession, report: ReportRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.report = report
        self.preview: ReportPreview | None = None
        self.grid: GridView | None = None
        #: The preview is in, or it failed (and the status line says why).
        self.loaded = False
        self.setObjectName("reportPreviewDialog")
        self.setWindowTitle(report.title)
        title = heading(report.title, self, 1.3)
        title.setWordWrap(True)
        title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.about = hint(self._about(report), self)
        self.about.setAccessibleName("Report")
        self.about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.parameters = QLabel(" · ".join(parameter_lines(report.kind, report.parameters)), self)
        self.parameters.setWordWrap(True)
        self.parameters.setAccessibleName("Parameters")
        self.parameters.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.truncated = hint("", self)
        self.truncated.setAccessibleName("Rows shown")
        self.truncated.hide()
        self.busy = busy_bar(self)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Preview status")
        self.rows_box = QVBoxLayout()
        self.rows_box.setContentsMargins(0, 0, 0, 0)
        self.placeholder = hint("Reading the report…", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.rows_box.addWidget(self.placeholder, 1)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.save_button: QPushButton = self.buttons.addButton(
            "&Save as…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.save_button.setToolTip(f"Write the whole report to a {report.format.upper()} file (Ctrl+S).")
        self.save_button.setShortcut("Ctrl+S")
        self.save_button.setAutoDefault(False)
        self.save_button.clicked.connect(self.save_as)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.about)
        layout.addWidget(self.parameters)
        layout.addWidget(self.busy)
        layout.addWidget(self.truncated)
        layout.addLayout(self.rows_box, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        size_for_rows(self, parent)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._load()

    @staticmethod
    def _about(report: ReportRow) -> str:
        parts = [kind_title(report.kind), report.format.upper()]
        if report.generated_by:
            parts.append(f"requested by {report.generated_by}")
        if report.finished_at is not None:
            parts.append(f"generated {display_text(report.finished_at, Kind.DATETIME, QLocale())}")
        return " · ".join(parts)

    def _load(self) -> None:
        services, actor, report_id = self.session.services, self.session.actor, self.report.id
        self.busy.show()
        self.save_button.setEnabled(False)
        self.session.runner.submit(
            lambda _control: services.reports.preview(actor, report_id),
            on_done=self._show,
            on_error=self._failed,
            key=f"reports.preview.{id(self)}",
            owner=self,
            description=f"open {self.report.title}",
        )

    def _show(self, preview: ReportPreview) -> None:
        self.loaded = True
        self.busy.hide()
        self.preview = preview
        self.report = preview.report
        self.save_button.setEnabled(True)
        spec = preview.spec
        search = [c.key for c in spec.columns if c.kind is Kind.TEXT]
        table = RowsTable[Any](spec, preview.rows, search=search)
        self.grid = GridView(self.session, table, name=f"report-{self.report.kind}", parent=self)
        self.grid.status_message.connect(lambda text: self.status.say(text, "success"))
        self.rows_box.removeWidget(self.placeholder)
        self.placeholder.hide()
        self.rows_box.addWidget(self.grid, 1)
        if preview.truncated:
            locale = QLocale()
            shown = display_text(len(preview.rows), Kind.INTEGER, locale)
            total = display_text(preview.total_rows, Kind.INTEGER, locale)
            self.truncated.setText(f"Showing the first {shown} of {total} rows — Save as… writes them all.")
            self.truncated.show()
        elif preview.total_rows == 0:
            self.truncated.setText("The report has no rows: nothing matched its parameters.")
            self.truncated.show()
        if self.isVisible():
            self.grid.view.setFocus()

    def _failed(self, error: BaseException) -> None:
        self.loaded = True
        self.busy.hide()
        message = describe(error)
        self.placeholder.setText(f"{message.title}.")
        self.status.say(message.text, "error")

    def save_as(self) -> Task[int] | None:
        if self.preview is None:
            return None
        return save_report(self.session, self, self.report, self.status.say)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.grid is not None:
            self.grid.view.setFocus()


__all__ = [
    "NewReportDialog",
    "ParamInput",
    "ReportPreviewDialog",
    "ask_save_path",
    "kind_title",
    "parameter_lines",
    "safe_file_name",
    "save_report",
    "size_text",
    "status_text",
    "value_text",
]
