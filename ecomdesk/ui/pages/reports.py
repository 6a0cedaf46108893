"""The reports page: every report of the shop with its live status, the selected one's details beside
the list, and the actions — request a new report, open (preview), save as…, re-run, delete.

Reports are generated in the background by whichever app or worker claims their job first (this
app's `ReportRunner` among them). The list is re-read whenever a report changes in the database
(`watches`: a request, a generation's progress, its outcome — the main window's change watcher
says so within a poll, or at once with the wake-up) and at once when this app's runner finishes
one. A report another staff member requests appears and completes here without anyone pressing F5.

Requesting, re-running and deleting need `reports.generate`; without it those actions are disabled
with a tooltip saying why. Opening needs the kind's own permission too, which the service checks:
its refusal is said in the status line, through the one error path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from PySide6.QtCore import (
    QEvent,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
)
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import Unavailable
from ecomdesk.services.reports import ReportOutcome, ReportRow
from ecomdesk.services.tables import Kind
from ecomdesk.ui.details import DetailsPanel
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import StatusKind, StatusLine
from ecomdesk.ui.grid import GridView, RowRole, RowStyleRole
from ecomdesk.ui.grid.format import display_text
from ecomdesk.ui.grid.view import GridDelegate
from ecomdesk.ui.pages.report_dialogs import (
    NewReportDialog,
    ReportPreviewDialog,
    kind_title,
    parameter_lines,
    save_report,
    size_text,
    status_text,
)
from ecomdesk.ui.permissions import READ_ONLY, enable, why_not
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import Task
from ecomdesk.ui.theme import is_theme_change, text_colour
from ecomdesk.ui.widgets import action_buttons, ask, focus_within, heading, page_action, remembered_splitter

#: Statuses of a report that is not done yet.
UNDERWAY: Final = frozenset({"pending", "processing"})
#: Titles a delete confirmation names before it says "and N more".
NAMED_IN_QUESTION: Final = 5


def describe_report(report: ReportRow) -> str:
    return f"“{report.title}”"


class ReportDelegate(GridDelegate):
    """A failed report in the theme's error colour, one not done yet muted and in italics, and some
    cells in words: the Status ("Processing… 12,345 rows"), the Kind by its title, the Format."""

    def __init__(
        self, columns: Mapping[int, Callable[[ReportRow], str]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        #: Words for a column's cells, by column index.
        self.columns = dict(columns)

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        style = index.data(RowStyleRole)
        if style == "failed":
            palette = option.palette
            palette.setColor(QPalette.ColorRole.Text, text_colour(palette, "error"))
            option.palette = palette
        elif style == "underway":
            palette = option.palette
            palette.setColor(QPalette.ColorRole.Text, palette.color(QPalette.ColorRole.PlaceholderText))
            option.palette = palette
            option.font.setItalic(True)
        words = self.columns.get(index.column())
        if words is not None:
            record = index.data(RowRole)
            if isinstance(record, ReportRow):
                option.text = words(record)


def row_style(record: Any) -> str | None:
    status = getattr(record, "status", None)
    if status == "failed":
        return "failed"
    return "underway" if status in UNDERWAY else None


class ReportPanel(DetailsPanel):
    """The selected report: what it is, its parameters, who asked and when, how it went, and for a
    failed one its error in full (selectable, to paste into a message to whoever can fix it)."""

    FIELDS: Final = (
        ("kind", "Kind"),
        ("format", "Format"),
        ("status", "Status"),
        ("parameters", "Parameters"),
        ("generated_by", "Requested by"),
        ("created_at", "Requested"),
        ("started_at", "Started"),
        ("finished_at", "Finished"),
        ("rows", "Rows"),
        ("size", "Size"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Select a report to see its parameters, its status and who asked for it.", parent)
        self.report: ReportRow | None = None
        self.setObjectName("reportPanel")
        self.title = self.title_label()
        self.state = self.state_label("reportState")
        form = self.value_grid(self.FIELDS)
        self.error_title = heading("Error", self.details, 1.05)
        self.error = QLabel(self.details)
        self.error.setObjectName("reportError")
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.error.setAccessibleName("Error")
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.addWidget(self.title)
        details.addWidget(self.state)
        details.addSpacing(self.fontMetrics().height() // 2)
        details.addLayout(form)
        details.addSpacing(self.fontMetrics().height() // 2)
        details.addWidget(self.error_title)
        details.addWidget(self.error)
        details.addStretch(1)
        self.show_report(None)

    def minimumSizeHint(self) -> QSize:
        """None of its own: in a narrow window the list keeps the room and the details give way
        (they scroll, and the splitter brings them back)."""
        return QSize(0, 0)

    def show_report(self, report: ReportRow | None) -> None:
        self.report = report
        self.show_details(report is not None)
        if report is None:
            return
        locale = QLocale()
        self.title.setText(report.title)
        if report.status == "failed":
            self._say_state(
                "This report failed: its error is below. Re-run it once the cause is fixed.", "error"
            )
        elif report.status == "pending":
            self._say_state("Waiting for a runner: any open ecomdesk or worker generates it.", "hint")
        elif report.status == "processing":
            self._say_state("Being generated now; the list follows it.", "hint")
        else:
            self._say_state("", None)

        def when(value: Any) -> str:
            return display_text(value, Kind.DATETIME, locale) or "—"

        rows = "—" if report.row_count is None else display_text(report.row_count, Kind.INTEGER, locale)
        texts = {
            "kind": kind_title(report.kind),
            "format": report.format.upper(),
            "status": status_text(report, locale),
            "parameters": "\n".join(parameter_lines(report.kind, report.parameters, locale)) or "—",
            "generated_by": report.generated_by or "—",
            "created_at": when(report.created_at),
            "started_at": when(report.started_at),
            "finished_at": when(report.finished_at),
            "rows": rows,
            "size": size_text(report.size_bytes, locale) or "—",
        }
        for key, text in texts.items():
            self.values[key].setText(text)
        failed = report.status == "failed"
        self.error_title.setVisible(failed)
        self.error.setVisible(failed)
        self.error.setText((report.error or "No error was recorded.") if failed else "")
        self._paint_error()

    def _say_state(self, text: str, kind: StatusKind | None) -> None:
        self.state.setText(text)
        self.state.setVisible(bool(text))
        self.state.setObjectName("hint" if kind == "hint" else "reportState")
        colour = text_colour(self.palette(), "error").name() if kind == "error" else ""
        sheet = f"color: {colour}; font-weight: bold;" if colour else ""
        if sheet != self.state.styleSheet():
            self.state.setStyleSheet(sheet)
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)

    def _paint_error(self) -> None:
        sheet = f"color: {text_colour(self.palette(), 'error').name()};"
        if sheet != self.error.styleSheet():
            self.error.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "error") and self.report is not None:
            self.show_report(self.report)


class ReportsPage(QWidget):
    #: The main window refreshes the page when one of these changed (`ui.live`).
    watches = frozenset({"reports"})

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("reportsPage")
        #: Why this user may not request, re-run or delete reports (None: they may).
        self.generate_refusal = READ_ONLY if session.read_only else why_not(session.actor, "reports.generate")
        self._select_after_refresh: int | None = None
        #: Reports requested from this page: their completion is said in the status line.
        self._requested_here: dict[int, str] = {}

        self.grid = GridView(session, session.services.reports.table, row_style=row_style, parent=self)
        model = self.grid.model
        words: dict[int, Callable[[ReportRow], str]] = {
            model.column_index("status"): status_text,
            model.column_index("kind"): lambda report: kind_title(report.kind),
            model.column_index("format"): lambda report: report.format.upper(),
        }
        self.grid.view.setItemDelegate(ReportDelegate(words, self.grid.view))
        self.panel = ReportPanel(self)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Reports status")

        self.new_action = page_action(self, "&New report…", QKeySequence.StandardKey.New)
        self.open_action = page_action(self, "&Open")
        self.save_action = page_action(self, "&Save as…", QKeySequence.StandardKey.Save)
        self.rerun_action = page_action(self, "&Re-run")
        self.delete_action = page_action(self, "&Delete…")
        self.new_action.triggered.connect(self.new_report)
        self.open_action.triggered.connect(lambda: self.open_report())
        self.save_action.triggered.connect(self.save_as)
        self.rerun_action.triggered.connect(self.rerun)
        self.delete_action.triggered.connect(
            lambda: self.delete_reports(self.grid.selected_records(limit=1000))
        )

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(heading("Reports", self))
        bar.addSpacing(self.fontMetrics().horizontalAdvance("M") * 2)
        actions = (self.new_action, self.open_action, self.save_action, self.rerun_action, self.delete_action)
        self.buttons = action_buttons(bar, actions, self)
        bar.addStretch(1)

        em = self.fontMetrics().horizontalAdvance("M")
        self.splitter = remembered_splitter(
            "reports/splitter",
            Qt.Orientation.Horizontal,
            ((self.grid, 3), (self.panel, 1)),
            (em * 64, em * 24),
            self,
        )

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.splitter, 1)

        self.grid.selection_changed.connect(self._selection_changed)
        self.grid.refreshed.connect(self._refreshed)
        self.grid.model.modelReset.connect(self._rows_changed)
        self.grid.model.dataChanged.connect(lambda *_args: self._rows_changed())
        self.grid.model.loaded.connect(self._rows_changed)
        self.grid.activated.connect(self.open_report)
        self.grid.delete_requested.connect(self.delete_reports)
        self.grid.status_message.connect(lambda text: self._say(text, "success"))
        if session.report_runner is not None:
            session.report_runner.report_finished.connect(self._report_finished)
        self._update_actions()

    # -- what the main window calls --------------------------------------------------------

    def refresh(self) -> None:
        self.grid.refresh()

    def focus_search(self) -> None:
        self.grid.focus_search()

    def page_shown(self) -> None:
        focus_within(self, self.grid.view)

    # -- selection, live status, the state of the actions ----------------------------------

    @property
    def current(self) -> ReportRow | None:
        """The report the single-report actions work on."""
        record = self.grid.current_record()
        return record if isinstance(record, ReportRow) else None

    def select_report(self, report_id: int) -> bool:
        """Select the report's row, if it is loaded; returns whether it was."""
        row = self.grid.model.row_of(report_id)
        if row is None:
            return False
        self.grid.view.selectRow(row)
        self.grid.view.scrollTo(self.grid.model.index(row, 0))
        return True

    def _selection_changed(self) -> None:
        record = self.current
        if record != self.panel.report:  # unchanged: a text selection in the details stays
            self.panel.show_report(record)
        self._update_actions()

    def _refreshed(self) -> None:
        wanted, self._select_after_refresh = self._select_after_refresh, None
        if wanted is not None:
            self.select_report(wanted)
        self._selection_changed()
        self._rows_changed()

    def _rows_changed(self) -> None:
        self._selection_changed()

    def underway(self) -> list[ReportRow]:
        """The loaded reports that are still pending or processing."""
        model = self.grid.model
        return [
            record
            for _row, record in model.loaded_records(0, model.rowCount() - 1)
            if isinstance(record, ReportRow) and record.status in UNDERWAY
        ]

    def _update_actions(self) -> None:
        record = self.current
        selected = bool(self.grid.selected_records(limit=1))
        refusal = self.generate_refusal
        enable(self.new_action, True, "Request a report: choose its kind and parameters (Ctrl+N).", refusal)
        enable(self.open_action, record is not None, "Preview the selected report's rows (Enter).", None)
        if record is not None and record.status != "completed":
            tip = "Only a completed report has a file to save."
            enable(self.save_action, False, tip, None)
        else:
            enable(
                self.save_action,
                record is not None,
                "Save the selected report's whole file (Ctrl+S).",
                None,
            )
        if record is not None and record.status in UNDERWAY:
            enable(self.rerun_action, False, "This report is still being generated.", refusal)
        else:
            enable(
                self.rerun_action,
                record is not None,
                "Request the selected report again with the same parameters, as of now.",
                refusal,
            )
        enable(
            self.delete_action,
            selected,
            "Delete the selected reports for everyone (Del); one being generated is cancelled.",
            refusal,
        )

    # -- the actions -------------------------------------------------------------------------

    def new_report(self) -> NewReportDialog | None:
        if not self.new_action.isEnabled():
            return None
        dialog = NewReportDialog(self.session, self)
        dialog.requested.connect(self._requested)
        dialog.open()
        return dialog

    def _requested(self, report: ReportRow) -> None:
        self._requested_here[report.id] = report.title
        self._say(
            f"Requested {describe_report(report)}: it is being generated and opens once completed.", "success"
        )
        self._select_after_refresh = report.id
        self.grid.refresh()
        if self.session.report_runner is not None:
            self.session.report_runner.kick()

    def open_report(self, record: Any = None) -> ReportPreviewDialog | None:
        """Enter, a double-click or Open: the preview of a completed report, or why there is none."""
        report = record if isinstance(record, ReportRow) else self.current
        if report is None:
            return None
        if report.status in UNDERWAY:
            self._say(f"{describe_report(report)} is still being generated: it opens once it is completed.")
            return None
        if report.status == "failed":
            error = report.error or "no error was recorded"
            self._say(f"{describe_report(report)} failed, so there is nothing to open: {error}", "error")
            return None
        dialog = ReportPreviewDialog(self.session, report, self)
        dialog.open()
        return dialog

    def save_as(self) -> Task[int] | None:
        report = self.current
        if report is None or not self.save_action.isEnabled():
            return None
        return save_report(self.session, self, report, self._say)

    def rerun(self) -> None:
        report = self.current
        if report is None or not self.rerun_action.isEnabled():
            return
        services, actor = self.session.services, self.session.actor
        self._say("Working…")
        self.session.runner.submit(
            lambda _control: services.reports.rerun(actor, report.id),
            on_done=self._requested,
            on_error=self._failed,
            owner=self,
            description=f"re-run {report.title}",
        )

    def delete_reports(self, records: Sequence[Any]) -> None:
        reports = [r for r in records if isinstance(r, ReportRow)]
        if not reports:
            return
        if self.generate_refusal is not None or not self.delete_action.isEnabled():
            self._say(self.generate_refusal or self.delete_action.toolTip(), "error")
            return
        titles = [describe_report(r) for r in reports[:NAMED_IN_QUESTION]]
        if len(reports) > NAMED_IN_QUESTION:
            titles.append(f"and {len(reports) - NAMED_IN_QUESTION:,} more")
        what = titles[0] if len(reports) == 1 else f"these {len(reports):,} reports: " + ", ".join(titles)
        if Preferences().confirm_delete:
            ask(
                self,
                "Delete",
                f"Delete {what}? They go for everyone; one still being generated is cancelled.",
                "Delete",
                lambda: self._delete(reports),
                danger=True,
            )
        else:
            self._delete(reports)

    def _delete(self, reports: list[ReportRow]) -> None:
        services, actor = self.session.services, self.session.actor
        ids = [r.id for r in reports]

        def said(count: int) -> str:
            if len(reports) == 1 and count == 1:
                return f"Deleted {describe_report(reports[0])}."
            return f"Deleted {count:,} {'report' if count == 1 else 'reports'}."

        self._say("Working…")
        self.session.runner.submit(
            lambda _control: services.reports.delete(actor, ids),
            on_done=lambda count: self._done(said(count)),
            on_error=self._failed,
            owner=self,
            description=f"delete {len(ids):,} reports",
        )

    def _report_finished(self, outcome: ReportOutcome) -> None:
        """This app's runner finished a report: show it now, and say so if it was asked for here."""
        title = self._requested_here.pop(outcome.report_id, None)
        if title is not None:
            if outcome.status == "completed":
                rows = display_text(outcome.rows, Kind.INTEGER, QLocale())
                self._say(f"“{title}” is ready: {rows} rows. Open it, or save it as a file.", "success")
            elif outcome.status == "failed":
                self._say(f"“{title}” failed: {outcome.error or 'no error was recorded'}", "error")
        self.grid.refresh()

    # -- saying how it went ---------------------------------------------------------------------

    def _say(self, text: str, kind: StatusKind = "hint") -> None:
        self.status.say(text, kind)
        window = self.window()
        if kind == "success" and isinstance(window, QMainWindow) and window.statusBar() is not None:
            window.statusBar().showMessage(text, 8000)

    def _done(self, text: str) -> None:
        self._say(text, "success")
        self.grid.refresh()

    def _failed(self, error: BaseException) -> None:
        self._say(describe(error).text, "error")
        self.grid.refresh()
        if isinstance(error, Unavailable):
            self.session.runner.failed.emit(error, None)  # the message bar and the reconnect probe


__all__ = ["ReportDelegate", "ReportPanel", "ReportsPage", "describe_report", "row_style"]
