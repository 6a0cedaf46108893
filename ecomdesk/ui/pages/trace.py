"""The rows behind a dashboard figure: a `Trace` opened in the app's one grid.

The grid shows `Services.tables[trace.table]` with the trace's filters set as page filters, so
the rows are exactly those the figure was computed from; the grid's own search, sort, count and CSV
export work on them as on any list. The dialog names the figure, so the rows can be checked against it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from ecomdesk.services.analytics import Trace
from ecomdesk.ui.forms import StatusLine
from ecomdesk.ui.grid import GridView
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.widgets import heading, hint, size_for_rows


class TraceDialog(QDialog):
    """A trace's rows in a grid, titled as the trace says, with the figure they add up to."""

    def __init__(
        self, session: AppSession, trace: Trace, parent: QWidget | None = None, *, figure: str = ""
    ) -> None:
        super().__init__(parent)
        self.trace = trace
        self.setObjectName("traceDialog")
        self.setWindowTitle(trace.title)
        table = session.services.tables.get(trace.table)
        title = heading(trace.title, self, 1.3)
        title.setWordWrap(True)
        self.figure = hint(
            f"{figure}. These are the rows it was computed from."
            if figure
            else "The rows behind the figure.",
            self,
        )
        self.figure.setAccessibleName("Figure")
        self.status = StatusLine(self)
        self.grid: GridView | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.figure)
        if table is None:  # a trace naming a list this database does not have: say so, calmly
            missing = QLabel(f"The list “{trace.table}” is not available here.", self)
            missing.setWordWrap(True)
            layout.addWidget(missing, 1)
        else:
            self.grid = GridView(session, table, name=f"trace-{trace.table}", parent=self)
            for key, value in trace.filters.items():
                self.grid.set_page_filter(key, value)
            self.grid.status_message.connect(lambda text: self.status.say(text, "success"))
            layout.addWidget(self.grid, 1)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        size_for_rows(self, parent)
        self.setWindowModality(Qt.WindowModality.WindowModal)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.grid is not None:
            self.grid.view.setFocus()
