"""The Integrations page: the webhook endpoints that tell the shop's other systems what happens here,
their delivery log with every attempt, the workers doing that work, and the shop's e-mail server.

Top: whether any worker is alive (`ecomdesk worker`), re-read every `WORKER_POLL_MS` on the task
runner — without one, deliveries and e-mail wait, and the line says so in the warning colours.

The Webhooks tab: the endpoints (a short list, read whole) over the delivery log — the one paged
grid on `webhook_deliveries`, filtered to the selected endpoint — beside the selected delivery's
attempts and the JSON body it sends. The page follows the database (`watches`): a delivery a
worker makes on another machine shows here without F5. The E-mail tab: the SMTP settings alert
e-mails go out through; the password is not among them, it lives on the worker's machine.

Everything here needs `integrations.manage`, as the page itself does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QEvent,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    QSettings,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import QFontDatabase, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStyleOptionViewItem,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import Conflict, Unavailable, ValidationError
from ecomdesk.services.events import ALL_EVENTS
from ecomdesk.services.mail import SECURITY_MODES, SmtpSettings
from ecomdesk.services.tables import Kind
from ecomdesk.services.webhooks import (
    AttemptRow,
    CreatedEndpoint,
    DeliveryDetail,
    DeliveryRow,
    EndpointDraft,
    EndpointRow,
)
from ecomdesk.services.workers import WorkerStatus
from ecomdesk.ui.errors import describe, not_saved
from ecomdesk.ui.forms import Field, FormGrid, StatusKind, StatusLine, clear_errors, save_revert, show_errors
from ecomdesk.ui.grid import GridView, RowRole, RowStyleRole
from ecomdesk.ui.grid.format import display_text
from ecomdesk.ui.grid.view import GridDelegate
from ecomdesk.ui.pages.endpoint_dialogs import EndpointDialog, SecretDialog
from ecomdesk.ui.permissions import READ_ONLY, enable, why_not
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.theme import is_theme_change, text_colour, tint
from ecomdesk.ui.widgets import (
    action_buttons,
    ask,
    focus_within,
    heading,
    hint,
    page_action,
    remembered_splitter,
)

#: How often the worker line is re-read (the workers beat every 10 s).
WORKER_POLL_MS: Final = 10_000
#: Endpoint rows shown without scrolling.
ENDPOINT_ROWS_SHOWN: Final = 5
#: Characters of a response excerpt shown in the attempts table (the whole one is its tooltip).
EXCERPT_CHARS: Final = 120


def when_text(value: dt.datetime | None, locale: QLocale | None = None) -> str:
    return display_text(value, Kind.DATETIME, locale or QLocale()) if value is not None else "—"


def events_text(events: Sequence[str]) -> str:
    return "All events" if ALL_EVENTS in events else ", ".join(events) or "None"


def delivery_state(row: Any) -> str:
    """ "delivered", "dead", "retrying" (failed at least once, will try again) or "pending"."""
    status = getattr(row, "status", "")
    if status == "pending" and int(getattr(row, "attempts", 0) or 0) > 0:
        return "retrying"
    return str(status)


def delivery_style(record: Any) -> str | None:
    state = delivery_state(record)
    return {"dead": "failed", "retrying": "attention", "pending": "muted"}.get(state)


class DeliveryDelegate(GridDelegate):
    """A dead delivery in the theme's error colour, one being retried tinted, one waiting greyed,
    and the Status column in words ("Retrying (3 attempts)")."""

    def __init__(self, status_column: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status_column = status_column

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        if index.data(RowStyleRole) == "failed":
            palette = option.palette
            palette.setColor(QPalette.ColorRole.Text, text_colour(palette, "error"))
            option.palette = palette
        if index.column() == self.status_column:
            record = index.data(RowRole)
            if record is not None:
                option.text = status_words(record)


def status_words(row: Any) -> str:
    state = delivery_state(row)
    attempts = int(getattr(row, "attempts", 0) or 0)
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    return {
        "delivered": "Delivered" if attempts <= 1 else f"Delivered after {tries}",
        "dead": f"Gave up after {tries}",
        "retrying": f"Retrying ({tries} so far)",
        "pending": "Waiting",
    }.get(state, state.capitalize())


def status_words_widest() -> str:
    """A long Status text, for the column's width."""
    return "Delivered after 8 attempts"


class EndpointModel(QAbstractTableModel):
    """The endpoints, read whole (a shop has a handful): in memory, never the database in `data()`."""

    COLUMNS: Final = ("URL", "Events", "State", "Last delivery", "Pending", "Dead")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[EndpointRow] = []

    def set_rows(self, rows: Sequence[EndpointRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def row_of(self, endpoint_id: int) -> int | None:
        return next((i for i, row in enumerate(self.rows) if row.id == endpoint_id), None)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == RowRole:
            return row
        if role == RowStyleRole:
            if not row.active:
                return "muted"
            return "attention" if row.dead else None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 4:
                return f"{row.pending:,} deliveries waiting or being retried"
            if column == 5:
                return f"{row.dead:,} deliveries given up on (select one and Redeliver)"
            return self._text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column >= 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(row: EndpointRow, column: int) -> str:
        if column == 0:
            return f"{row.url} — {row.description}" if row.description else row.url
        if column == 1:
            return events_text(row.events)
        if column == 2:
            return "Active" if row.active else "Paused"
        if column == 3:
            if row.last_status is None:
                return "None yet"
            return f"{LAST_STATUS_WORDS.get(row.last_status, row.last_status)}, {when_text(row.last_at)}"
        if column == 4:
            return f"{row.pending:,}"
        return f"{row.dead:,}"


#: An endpoint's newest delivery, in words.
LAST_STATUS_WORDS: Final = {"delivered": "Delivered", "dead": "Gave up", "pending": "Sending"}


def attempt_time(moment: dt.datetime, locale: QLocale) -> str:
    """To the second (retries come seconds apart), in local time; the day only when not today."""
    local = moment.astimezone()
    clock = local.strftime("%H:%M:%S")
    if local.date() == dt.datetime.now().astimezone().date():
        return clock
    day = locale.toString(QDate(local.year, local.month, local.day), QLocale.FormatType.ShortFormat)
    return f"{day} {clock}"


def readable_json(body: str) -> str:
    """The body indented for reading (it is sent compact; the signature covers those bytes)."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


class DeliveryPanel(QWidget):
    """The selected delivery: its attempts (number, time, duration, HTTP status, error, the start
    of the receiver's answer) and the JSON body it sends, with Redeliver."""

    ATTEMPT_COLUMNS: Final = ("#", "Time", "Duration", "HTTP", "Error", "Response")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deliveryPanel")
        self.delivery: DeliveryDetail | None = None
        self.empty = hint("Select a delivery to see each attempt and the body it sends.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.title = heading("", self, 1.15)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state = QLabel(self)
        self.state.setWordWrap(True)
        self.redeliver_button = QPushButton("Redeliver", self)
        self.redeliver_button.setAccessibleName("Redeliver the selected delivery")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.redeliver_button, 0, Qt.AlignmentFlag.AlignTop)

        self.attempts = QTableWidget(0, len(self.ATTEMPT_COLUMNS), self)
        self.attempts.setObjectName("attemptsTable")
        self.attempts.setAccessibleName("Attempts")
        self.attempts.setHorizontalHeaderLabels(list(self.ATTEMPT_COLUMNS))
        self.attempts.verticalHeader().hide()
        self.attempts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.attempts.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.attempts.setAlternatingRowColors(True)
        self.attempts.setShowGrid(False)
        self.attempts.setWordWrap(False)
        header = self.attempts.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Three attempts stay readable in a small window; the body gives way first.
        rows = self.attempts.verticalHeader().defaultSectionSize()
        self.attempts.setMinimumHeight(header.sizeHint().height() + rows * 3 + rows // 2)
        self.body = QPlainTextEdit(self)
        self.body.setObjectName("deliveryBody")
        self.body.setAccessibleName("Body sent")
        self.body.setReadOnly(True)
        self.body.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.body.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        self.details = QWidget(self)
        column = QVBoxLayout(self.details)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.state)
        column.addWidget(heading("Attempts", self.details, 1.0))
        column.addWidget(self.attempts, 3)
        column.addWidget(heading("Body sent", self.details, 1.0))
        column.addWidget(
            hint("Indented here for reading; sent as compact JSON, which the signature covers.", self.details)
        )
        self.body.setMinimumHeight(self.body.fontMetrics().lineSpacing() * 3)
        column.addWidget(self.body, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty)
        # In a short window the details scroll rather than squeeze the attempts to nothing.
        self.scroller = QScrollArea(self)
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        self.scroller.setWidgetResizable(True)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroller.setWidget(self.details)
        layout.addWidget(self.scroller, 1)
        self.show_delivery(None)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, 0)

    def show_delivery(self, detail: DeliveryDetail | None) -> None:
        self.delivery = detail
        self.empty.setVisible(detail is None)
        self.scroller.setVisible(detail is not None)
        if detail is None:
            self.attempts.setRowCount(0)
            self.body.clear()
            return
        row = detail.delivery
        self.title.setText(f"{row.event_type} → {row.endpoint_url}")
        state = status_words(row)
        if delivery_state(row) == "retrying" and row.next_attempt_at is not None:
            state += f"; next attempt {when_text(row.next_attempt_at)}"
        if delivery_state(row) == "delivered" and row.delivered_at is not None:
            state += f" {when_text(row.delivered_at)}"
        self.state.setText(f"{state}. Event id {row.event_id} (receivers de-duplicate by it).")
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._fill_attempts(detail.attempts)
        body = readable_json(detail.body)
        if self.body.toPlainText() != body:  # a re-read keeps the reader's scroll position
            self.body.setPlainText(body)

    def _fill_attempts(self, attempts: Sequence[AttemptRow]) -> None:
        locale = QLocale()
        table = self.attempts
        table.setRowCount(len(attempts))
        error_colour = text_colour(self.palette(), "error")
        for r, attempt in enumerate(attempts):
            excerpt = " ".join(attempt.response_excerpt.split())
            cells = (
                str(attempt.number),
                attempt_time(attempt.started_at, locale),
                f"{locale.toString(attempt.duration_ms)} ms",
                str(attempt.status_code) if attempt.status_code is not None else "—",
                attempt.error or "",
                excerpt[:EXCERPT_CHARS] + ("…" if len(excerpt) > EXCERPT_CHARS else ""),
            )
            ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(attempt.response_excerpt if c == 5 else text)
                if c in (0, 2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 3 and not ok:
                    item.setForeground(error_colour)
                table.setItem(r, c, item)
        table.setColumnHidden(4, not any(attempt.error for attempt in attempts))
        # Widths from the few rows themselves; the response takes what is left.
        metrics = table.fontMetrics()
        for c in range(len(self.ATTEMPT_COLUMNS) - 1):
            items = (table.item(r, c) for r in range(table.rowCount()))
            texts = [self.ATTEMPT_COLUMNS[c]] + [item.text() for item in items if item is not None]
            widest = max(metrics.horizontalAdvance(text) for text in texts)
            table.setColumnWidth(c, min(widest + 20, metrics.horizontalAdvance("M") * 18))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and self.delivery is not None:
            self._fill_attempts(self.delivery.attempts)


class WorkerLine(QLabel):
    """ "2 workers alive, last job 10 s ago"; in the warning colours when none is."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Looking for workers…", parent)
        self.setObjectName("workerLine")
        self.setAccessibleName("Workers")
        self.setWordWrap(True)
        self.status: WorkerStatus | None = None
        self._painting = False
        self.setMargin(self.fontMetrics().height() // 4)

    def show_status(self, status: WorkerStatus) -> None:
        self.status = status
        self.setText(status.summary() + ".")
        tips = [
            f"{w.name}: {'alive' if w.alive else 'silent'}, {w.jobs_done:,} jobs, seen {when_text(w.seen_at)}"
            for w in status.workers
        ]
        self.setToolTip("\n".join(tips) or "No worker has ever reported to this database.")
        self._paint()

    @property
    def warning(self) -> bool:
        return self.status is not None and not status_alive(self.status)

    def _paint(self) -> None:
        """Colours from the application's palette: this label's own is what its sheet made it."""
        if self._painting:
            return
        sheet = ""
        if self.warning:
            palette = QApplication.palette()
            background, border = tint(palette, "warning")
            colour = text_colour(palette, "warning")
            sheet = (
                f"QLabel#workerLine {{ background: {background.name()}; border: 1px solid {border.name()};"
                f" border-radius: 4px; color: {colour.name()}; }}"
            )
        if sheet != self.styleSheet():
            self._painting = True
            try:
                self.setStyleSheet(sheet)
            finally:
                self._painting = False

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and event.type() != QEvent.Type.PaletteChange:
            self._paint()


def status_alive(status: WorkerStatus) -> bool:
    return bool(status.alive)


#: The SMTP security modes, in words.
SECURITY_WORDS: Final = {
    "starttls": "STARTTLS (usually port 587)",
    "tls": "TLS from the start (usually port 465)",
    "none": "None (only to a relay on the worker's own machine)",
}
PASSWORD_WHERE: Final = (
    "Not kept here, nor anywhere in the database: it lives on each machine that runs a worker. "
    "There, run<br><nobr><code>ecomdesk worker secret set smtp-password</code></nobr><br>"
    "(the machine's keyring) or set the environment variable "
    "<nobr><code>ECOMDESK_SMTP_PASSWORD</code></nobr>."
)


class SmtpBox(QGroupBox):
    """The shop's mail server for alert e-mails (`email.*` settings), loaded and saved through the
    task runner; a failed save keeps the input and marks the fields."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__("E-mail server for alerts — for the whole shop", parent)
        self.setObjectName("smtpBox")
        self._session = session
        self.editable = not session.read_only and session.actor.can("integrations.manage")
        self.loaded: SmtpSettings | None = None

        self.host = QLineEdit(self)
        self.host.setPlaceholderText("smtp.example.com — empty: no alert e-mails")
        self.host.setAccessibleName("SMTP server")
        self.port = QSpinBox(self)
        self.port.setRange(1, 65_535)
        self.port.setAccessibleName("Port")
        self.security = QComboBox(self)
        for mode in SECURITY_MODES:
            self.security.addItem(SECURITY_WORDS.get(mode, mode), mode)
        self.security.setAccessibleName("Security")
        self.user = QLineEdit(self)
        self.user.setPlaceholderText("empty: the server needs no sign-in")
        self.user.setAccessibleName("User name")
        self.from_address = QLineEdit(self)
        self.from_address.setPlaceholderText("alerts@example.com")
        self.from_address.setAccessibleName("From address")
        self.digest_hour = QSpinBox(self)
        self.digest_hour.setRange(0, 23)
        self.digest_hour.setSuffix(":00")
        self.digest_hour.setAccessibleName("Daily digest at")
        self.digest_hour.setToolTip("The hour (the shop's time) the low-stock digest goes out each day.")
        self.fields: dict[str, Field] = {
            "host": Field(self.host, self),
            "port": Field(self.port, self),
            "security": Field(self.security, self),
            "user": Field(self.user, self),
            "from_address": Field(self.from_address, self),
            "digest_hour": Field(self.digest_hour, self),
        }
        form = FormGrid()
        form.add_row("Server", self.fields["host"], buddy=self.host)
        form.add_row("Port", self.fields["port"], buddy=self.port)
        form.add_row("Security", self.fields["security"], buddy=self.security)
        form.add_row("User name", self.fields["user"], buddy=self.user)
        form.add_row("Send from", self.fields["from_address"], buddy=self.from_address)
        form.add_row("Daily digest at", self.fields["digest_hour"], buddy=self.digest_hour)
        self.password_hint = hint(PASSWORD_WHERE, self)
        self.password_hint.setTextFormat(Qt.TextFormat.RichText)
        self.password_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.add_row("Password", self.password_hint)

        footer = save_revert(
            self, self.save, self._revert, what="the e-mail settings", status_name="E-mail settings status"
        )
        self.status, self.save_button, self.revert_button = (
            footer.status,
            footer.save_button,
            footer.revert_button,
        )
        box = QVBoxLayout(self)
        box.addLayout(form)
        footer.add_to(box)
        for editor in (self.host, self.user, self.from_address):
            editor.textChanged.connect(self._update_buttons)
        for spin in (self.port, self.digest_hour):
            spin.valueChanged.connect(self._update_buttons)
        self.security.currentIndexChanged.connect(self._update_buttons)
        if not self.editable:
            for editor in (self.host, self.user, self.from_address):
                editor.setReadOnly(True)
            for spin in (self.port, self.digest_hour):
                spin.setReadOnly(True)
                spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
            self.security.setEnabled(False)
            self.save_button.hide()
            self.revert_button.hide()
            self.status.say(READ_ONLY if session.read_only else "Only an administrator can change these.")
        self.setEnabled(False)  # until loaded
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 36)
        self.setMaximumWidth(self.fontMetrics().horizontalAdvance("M") * 48)
        self._update_buttons()

    def form_values(self) -> dict[str, Any]:
        return {
            "host": self.host.text().strip(),
            "port": self.port.value(),
            "security": self.security.currentData(),
            "user": self.user.text().strip(),
            "from_address": self.from_address.text().strip(),
            "digest_hour": self.digest_hour.value(),
        }

    @property
    def dirty(self) -> bool:
        return self.loaded is not None and self.form_values() != self.loaded.values()

    def show_settings(self, settings: SmtpSettings) -> None:
        self.loaded = settings
        self.host.setText(settings.host)
        self.port.setValue(settings.port)
        self.security.setCurrentIndex(max(0, self.security.findData(settings.security)))
        self.user.setText(settings.user)
        self.from_address.setText(settings.from_address)
        self.digest_hour.setValue(settings.digest_hour)
        clear_errors(self.fields)
        self.setEnabled(True)
        self._update_buttons()
        if self.editable and not settings.configured and not self.status.text():
            self.status.say("E-mail is off until a server and a sender address are saved.")

    def reload(self) -> None:
        """Fetch the settings again, unless the form holds unsaved edits (they are kept)."""
        if self.dirty:
            return
        services, actor = self._session.services, self._session.actor
        self._session.runner.submit(
            lambda _control: services.mail.smtp_settings(actor),
            on_done=self._loaded,
            on_error=lambda error: self.status.say(describe(error).text, "error"),
            key=f"smtp.load.{id(self)}",
            owner=self,
            description="load the e-mail settings",
        )

    def _loaded(self, settings: SmtpSettings) -> None:
        if not self.dirty:
            self.show_settings(settings)

    def save(self) -> None:
        if not self.editable or self.loaded is None:
            return
        services, actor = self._session.services, self._session.actor
        changes, expected = self.form_values(), self.loaded.updated_at
        self.save_button.setEnabled(False)
        self.status.say("Saving…")
        self._session.runner.submit(
            lambda _control: services.mail.update_smtp_settings(actor, changes, expected),
            on_done=self._saved,
            on_error=self._save_failed,
            key=f"smtp.save.{id(self)}",
            owner=self,
            description="save the e-mail settings",
        )

    def _saved(self, settings: SmtpSettings) -> None:
        self.show_settings(settings)
        if settings.configured:
            self.status.say("Saved. Workers use these settings for the next e-mail.", "success")
        else:
            self.status.say("Saved: e-mail is off until a server and a sender address are set.", "success")

    def _save_failed(self, error: BaseException) -> None:
        self._update_buttons()
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self.status.say(" ".join(["Nothing was saved: please check the marked fields.", *rest]), "error")
        elif isinstance(error, Conflict):
            self.status.say(f"{error.message} Use Revert to load their values.", "error")
        else:
            self.status.say(not_saved(error), "error")
            if isinstance(error, Unavailable):
                self._session.runner.failed.emit(error, None)

    def _revert(self) -> None:
        if self.loaded is not None:
            self.show_settings(self.loaded)
        self.status.say("")
        self.reload()

    def _update_buttons(self) -> None:
        dirty = self.dirty
        self.save_button.setEnabled(self.editable and dirty)
        self.revert_button.setEnabled(self.editable and dirty)


class IntegrationsPage(QWidget):
    #: The main window refreshes the page when one of these changed (`ui.live`).
    watches = frozenset({"webhook_deliveries", "webhook_endpoints"})

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("integrationsPage")
        #: Why this user may not change anything here (None: they may).
        self.refusal = READ_ONLY if session.read_only else why_not(session.actor, "integrations.manage")
        self._select_after_load: int | None = None
        self.endpoints_loaded = False

        self.worker_line = WorkerLine(self)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Integrations status")

        # -- the endpoints -------------------------------------------------------------------------
        self.endpoint_model = EndpointModel(self)
        self.endpoints = QTableView(self)
        self.endpoints.setObjectName("endpointsTable")
        self.endpoints.setAccessibleName("Webhook endpoints")
        self.endpoints.setModel(self.endpoint_model)
        self.endpoints.setItemDelegate(GridDelegate(self.endpoints))
        self.endpoints.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.endpoints.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.endpoints.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.endpoints.setAlternatingRowColors(True)
        self.endpoints.setShowGrid(False)
        self.endpoints.setWordWrap(False)
        self.endpoints.verticalHeader().hide()
        self._fit_endpoints_height()
        self.endpoints.horizontalHeader().setStretchLastSection(False)
        self.endpoints.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.endpoints.doubleClicked.connect(lambda _index: self.edit_endpoint())
        self.endpoints_empty = hint(
            "No endpoint yet. Add one to tell another system (an ERP, a chat channel, a fulfilment "
            "service) about low stock, finished reports, new orders and more.",
            self,
        )

        self.add_action = page_action(self, "&Add…", QKeySequence.StandardKey.New)
        self.edit_action = page_action(self, "&Edit…")
        self.pause_action = page_action(self, "&Pause")
        self.test_action = page_action(self, "Send &test event")
        self.rotate_action = page_action(self, "Rotate &secret…")
        self.remove_action = page_action(self, "&Remove…")
        self.add_action.triggered.connect(self.add_endpoint)
        self.edit_action.triggered.connect(self.edit_endpoint)
        self.pause_action.triggered.connect(self.pause_or_resume)
        self.test_action.triggered.connect(self.send_test)
        self.rotate_action.triggered.connect(self.rotate_secret)
        self.remove_action.triggered.connect(self.remove_endpoint)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(heading("Endpoints", self, 1.15))
        bar.addSpacing(self.fontMetrics().horizontalAdvance("M"))
        actions = (
            self.add_action,
            self.edit_action,
            self.pause_action,
            self.test_action,
            self.rotate_action,
            self.remove_action,
        )
        self.buttons = action_buttons(bar, actions, self)
        bar.addStretch(1)
        endpoints_part = QWidget(self)
        part = QVBoxLayout(endpoints_part)
        part.setContentsMargins(0, 0, 0, 0)
        part.addLayout(bar)
        part.addWidget(self.endpoints_empty)
        part.addWidget(self.endpoints, 1)

        # -- the delivery log ----------------------------------------------------------------------
        self.grid = GridView(
            session, session.services.tables["webhook_deliveries"], row_style=delivery_style, parent=self
        )
        self.grid.view.setItemDelegate(
            DeliveryDelegate(self.grid.model.column_index("status"), self.grid.view)
        )
        #: The log's columns are still the defaults: fitted once the first rows arrive (a new
        #: shop's log starts empty, and widths from the headers alone cut the rows off).
        self._fit_log = QSettings().value(f"grid/{self.grid.name}/header") is None
        if self._fit_log:
            self._default_columns()
        self.grid.model.loaded.connect(self._log_loaded)
        # The endpoints list above is the endpoint filter: one way to choose, not two.
        self.grid.filters["endpoint"].hide()
        self._filtered_endpoint: int | None = None
        self.log_title = heading("Delivery log — all endpoints", self, 1.15)
        self.panel = DeliveryPanel(self)
        self.redeliver_action = page_action(self, "Re&deliver")
        self.redeliver_action.triggered.connect(self.redeliver)
        self.panel.redeliver_button.clicked.connect(self.redeliver)
        log_part = QWidget(self)
        log = QVBoxLayout(log_part)
        log.setContentsMargins(0, 0, 0, 0)
        log.addWidget(self.log_title)
        em = self.fontMetrics().horizontalAdvance("M")
        self.log_splitter = remembered_splitter(
            "integrations/log-splitter",
            Qt.Orientation.Horizontal,
            ((self.grid, 3), (self.panel, 2)),
            (em * 56, em * 36),
            self,
        )
        log.addWidget(self.log_splitter, 1)
        webhooks = QWidget(self)
        webhooks_layout = QVBoxLayout(webhooks)
        webhooks_layout.addWidget(endpoints_part)
        webhooks_layout.addWidget(log_part, 1)
        self.smtp = SmtpBox(session, self)
        email = QWidget(self)
        email_layout = QHBoxLayout(email)
        email_layout.addWidget(self.smtp, 0, Qt.AlignmentFlag.AlignTop)
        email_layout.addStretch(1)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(webhooks, "Webhooks")
        self.tabs.addTab(email, "E-mail")
        self.tabs.currentChanged.connect(self._tab_changed)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(heading("Integrations", self))
        top.addSpacing(em * 2)
        top.addWidget(self.worker_line, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)

        self._worker_timer = QTimer(self)
        self._worker_timer.setObjectName("integrationsWorkerTimer")
        self._worker_timer.setInterval(WORKER_POLL_MS)
        self._worker_timer.timeout.connect(self.load_workers)

        self.endpoints.selectionModel().selectionChanged.connect(lambda *_args: self._endpoint_changed())
        self.grid.selection_changed.connect(self._delivery_changed)
        self.grid.refreshed.connect(self._delivery_changed)
        self.grid.status_message.connect(lambda text: self._say(text, "success"))
        self._update_actions()
        self.load_endpoints()
        self.load_workers()

    def _default_columns(self) -> None:
        """Until someone arranges the log's columns: the status next to the id, and the event id and
        times a delivery's details show anyway left out (the column chooser brings them back)."""
        header, model = self.grid.header, self.grid.model
        header.moveSection(header.visualIndex(model.column_index("status")), 1)
        for key in ("event_id", "attempts", "delivered_at", "next_attempt_at"):
            header.setSectionHidden(model.column_index(key), True)

    def _log_loaded(self) -> None:
        if not self._fit_log or self.grid.model.rowCount() == 0:
            return
        self._fit_log = False
        self.grid.fit_columns()
        # The Status column shows words ("Delivered after 3 attempts"), wider than its raw values.
        status = self.grid.model.column_index("status")
        wanted = self.grid.view.fontMetrics().horizontalAdvance(status_words_widest()) + 24
        if self.grid.header.sectionSize(status) < wanted:
            self.grid.header.resizeSection(status, wanted)

    # -- what the main window calls --------------------------------------------------------

    def refresh(self) -> None:
        self.load_endpoints()
        self.grid.refresh()
        self._load_delivery()
        self.load_workers()

    def focus_search(self) -> None:
        self.grid.focus_search()

    def page_shown(self) -> None:
        self.load_workers()
        if self.tabs.currentIndex() == 1:
            self.smtp.reload()
        focus_within(self, self.endpoints)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._worker_timer.start()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self._worker_timer.stop()

    def _tab_changed(self, index: int) -> None:
        if index == 1:
            self.smtp.reload()

    # -- loading -----------------------------------------------------------------------------

    def load_workers(self) -> None:
        services, actor = self.session.services, self.session.actor
        self.session.runner.submit(
            lambda _control: services.workers.status(actor),
            on_done=self.worker_line.show_status,
            on_error=lambda error: self.worker_line.setText(describe(error).text),
            key=f"integrations.workers.{id(self)}",
            owner=self,
            description="read the workers' status",
        )

    def load_endpoints(self) -> None:
        services, actor = self.session.services, self.session.actor
        self.session.runner.submit(
            lambda _control: services.webhooks.endpoints(actor),
            on_done=self._endpoints_loaded,
            on_error=self._failed,
            key=f"integrations.endpoints.{id(self)}",
            owner=self,
            description="read the webhook endpoints",
        )

    def _endpoints_loaded(self, rows: Sequence[EndpointRow]) -> None:
        wanted = self._select_after_load
        self._select_after_load = None
        current = self.current_endpoint
        keep = wanted if wanted is not None else (current.id if current is not None else None)
        self.endpoint_model.set_rows(rows)
        self.endpoints_loaded = True
        self.endpoints_empty.setVisible(not rows)
        self.endpoints.setVisible(bool(rows))
        self._fit_endpoint_columns()
        self._fit_endpoints_height()
        if keep is not None:
            self.select_endpoint(keep)
        self._endpoint_changed()
        self.session.note_refreshed()

    def _fit_endpoints_height(self) -> None:
        """As tall as its rows — a shop has a handful — from two to `ENDPOINT_ROWS_SHOWN`; the
        delivery log below takes the rest of the page."""
        view = self.endpoints
        rows = min(max(self.endpoint_model.rowCount(), 2), ENDPOINT_ROWS_SHOWN)
        frame = 2 * view.frameWidth()
        scroll = view.horizontalScrollBar().sizeHint().height()
        height = (
            view.horizontalHeader().sizeHint().height() + rows * view.verticalHeader().defaultSectionSize()
        )
        view.setFixedHeight(height + frame + scroll)

    def _fit_endpoint_columns(self) -> None:
        view, metrics = self.endpoints, self.endpoints.fontMetrics()
        for column in range(1, self.endpoint_model.columnCount()):
            texts = [self.endpoint_model.COLUMNS[column]] + [
                str(self.endpoint_model.index(r, column).data() or "")
                for r in range(self.endpoint_model.rowCount())
            ]
            width = max(metrics.horizontalAdvance(t) for t in texts) + 28
            view.setColumnWidth(column, min(width, metrics.horizontalAdvance("M") * 28))

    @property
    def current_endpoint(self) -> EndpointRow | None:
        rows = self.endpoints.selectionModel().selectedRows()
        if not rows:
            return None
        record = rows[0].data(RowRole)
        return record if isinstance(record, EndpointRow) else None

    def select_endpoint(self, endpoint_id: int | None) -> bool:
        if endpoint_id is None:
            self.endpoints.clearSelection()
            return True
        row = self.endpoint_model.row_of(endpoint_id)
        if row is None:
            return False
        self.endpoints.selectRow(row)
        return True

    def _endpoint_changed(self) -> None:
        endpoint = self.current_endpoint
        endpoint_id = endpoint.id if endpoint is not None else None
        if self._filtered_endpoint != endpoint_id:
            self._filtered_endpoint = endpoint_id
            self.grid.set_page_filter("endpoint", endpoint_id)
        self.log_title.setText(
            f"Delivery log — {endpoint.url}" if endpoint is not None else "Delivery log — all endpoints"
        )
        self._update_actions()

    @property
    def current_delivery(self) -> DeliveryRow | None:
        record = self.grid.current_record()
        return record if isinstance(record, DeliveryRow) else None

    def _delivery_changed(self) -> None:
        delivery = self.current_delivery
        shown = self.panel.delivery
        if delivery is None:
            if shown is not None:
                self.panel.show_delivery(None)
        elif shown is None or shown.delivery != delivery:
            self._load_delivery()
        self._update_actions()

    def _load_delivery(self) -> None:
        delivery = self.current_delivery
        if delivery is None:
            self.panel.show_delivery(None)
            return
        services, actor, delivery_id = self.session.services, self.session.actor, delivery.id
        self.session.runner.submit(
            lambda _control: services.webhooks.delivery(actor, delivery_id),
            on_done=self._delivery_loaded,
            on_error=self._failed,
            key=f"integrations.delivery.{id(self)}",
            owner=self,
            description="read the delivery's attempts",
        )

    def _delivery_loaded(self, detail: DeliveryDetail) -> None:
        current = self.current_delivery
        if current is None or current.id != detail.delivery.id:
            return
        self.panel.show_delivery(detail)
        self._update_actions()

    # -- the state of the actions --------------------------------------------------------------

    def _update_actions(self) -> None:
        endpoint = self.current_endpoint
        refusal = self.refusal
        chosen = endpoint is not None
        enable(self.add_action, True, "Add an endpoint: where to send which events (Ctrl+N).", refusal)
        enable(self.edit_action, chosen, "Change the selected endpoint's URL, events or state.", refusal)
        paused = endpoint is not None and not endpoint.active
        self.pause_action.setText("Res&ume" if paused else "&Pause")
        enable(
            self.pause_action,
            chosen,
            "Deliver to the selected endpoint again; what waited is sent."
            if paused
            else "Stop sending new events to the selected endpoint until it is resumed.",
            refusal,
        )
        enable(
            self.test_action,
            chosen and not paused,
            "A paused endpoint is sent nothing: resume it first."
            if paused
            else "Send the selected endpoint a test event now, whatever events it subscribes to.",
            refusal,
        )
        enable(
            self.rotate_action,
            chosen,
            "Give the selected endpoint a new signing secret (shown once); the old one stops working.",
            refusal,
        )
        enable(self.remove_action, chosen, "Remove the selected endpoint and its delivery log.", refusal)
        delivery = self.current_delivery
        redeliverable = delivery is not None and delivery.status in ("delivered", "dead")
        tip = (
            "Send this event to its endpoint again (same event id: receivers de-duplicate by it)."
            if redeliverable or delivery is None
            else "This delivery is still being tried; it can be redelivered once delivered or given up."
        )
        enable(self.redeliver_action, redeliverable, tip, refusal)
        self.panel.redeliver_button.setEnabled(self.redeliver_action.isEnabled())
        self.panel.redeliver_button.setToolTip(self.redeliver_action.toolTip())

    # -- the actions -------------------------------------------------------------------------------

    def add_endpoint(self) -> EndpointDialog | None:
        if not self.add_action.isEnabled():
            return None
        dialog = EndpointDialog(self.session, None, self)
        dialog.saved.connect(self._added)
        dialog.open()
        return dialog

    def _added(self, created: CreatedEndpoint) -> None:
        self._say(f"Added {created.endpoint.url}.", "success")
        self._select_after_load = created.endpoint.id
        self.load_endpoints()
        self.show_secret(created.endpoint.url, created.secret, rotated=False)

    def show_secret(self, url: str, secret: str, *, rotated: bool) -> SecretDialog:
        dialog = SecretDialog(url, secret, rotated=rotated, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.secret_dialog = dialog
        return dialog

    def edit_endpoint(self) -> EndpointDialog | None:
        endpoint = self.current_endpoint
        if endpoint is None or not self.edit_action.isEnabled():
            return None
        dialog = EndpointDialog(self.session, endpoint, self)
        dialog.saved.connect(lambda row: self._done(f"Saved {row.url}."))
        dialog.open()
        return dialog

    def pause_or_resume(self) -> None:
        endpoint = self.current_endpoint
        if endpoint is None or not self.pause_action.isEnabled():
            return
        services, actor = self.session.services, self.session.actor
        draft = draft_of(endpoint, active=not endpoint.active)
        said = (
            f"Resumed {endpoint.url}."
            if not endpoint.active
            else f"Paused {endpoint.url}: nothing new is sent."
        )
        self._run(
            lambda: services.webhooks.update_endpoint(actor, endpoint.id, draft), said, "pause an endpoint"
        )

    def send_test(self) -> None:
        endpoint = self.current_endpoint
        if endpoint is None or not self.test_action.isEnabled():
            return
        services, actor = self.session.services, self.session.actor
        self._run(
            lambda: services.webhooks.send_test(actor, endpoint.id),
            f"A test event is on its way to {endpoint.url}: its delivery shows in the log.",
            "send a test event",
        )

    def rotate_secret(self) -> None:
        endpoint = self.current_endpoint
        if endpoint is None or not self.rotate_action.isEnabled():
            return
        services, actor = self.session.services, self.session.actor

        def rotate() -> None:
            self._say("Working…")
            self.session.runner.submit(
                lambda _control: services.webhooks.rotate_secret(actor, endpoint.id),
                on_done=lambda secret: self._rotated(endpoint, secret),
                on_error=self._failed,
                owner=self,
                description="rotate an endpoint's secret",
            )

        ask(
            self,
            "Rotate secret",
            f"Give {endpoint.url} a new signing secret? Deliveries are signed with the new one at once, "
            "so the receiver must be given it too.",
            "Rotate",
            rotate,
            danger=True,
        )

    def _rotated(self, endpoint: EndpointRow, secret: str) -> None:
        self._done(f"{endpoint.url} has a new signing secret.")
        self.show_secret(endpoint.url, secret, rotated=True)

    def remove_endpoint(self) -> None:
        endpoint = self.current_endpoint
        if endpoint is None or not self.remove_action.isEnabled():
            return
        services, actor = self.session.services, self.session.actor

        def remove() -> None:
            self._run(
                lambda: services.webhooks.delete_endpoint(actor, endpoint.id),
                f"Removed {endpoint.url}.",
                "remove an endpoint",
            )

        text = f"Remove {endpoint.url}? Nothing more is sent to it, and its delivery log goes with it."
        if Preferences().confirm_delete:
            ask(self, "Remove endpoint", text, "Remove", remove, danger=True)
        else:
            remove()

    def redeliver(self) -> None:
        delivery = self.current_delivery
        if delivery is None or not self.redeliver_action.isEnabled():
            return
        services, actor = self.session.services, self.session.actor
        self._run(
            lambda: services.webhooks.redeliver(actor, delivery.id),
            f"{delivery.event_type} is queued again for {delivery.endpoint_url}.",
            "redeliver",
        )

    # -- saying how it went ------------------------------------------------------------------------

    def _run(self, call: Callable[[], object], said: str, description: str) -> None:
        self._say("Working…")
        self.session.runner.submit(
            lambda _control: call(),
            on_done=lambda _result: self._done(said),
            on_error=self._failed,
            owner=self,
            description=description,
        )

    def _say(self, text: str, kind: StatusKind = "hint") -> None:
        self.status.say(text, kind)
        window = self.window()
        if kind == "success" and isinstance(window, QMainWindow) and window.statusBar() is not None:
            window.statusBar().showMessage(text, 8000)

    def _done(self, text: str) -> None:
        self._say(text, "success")
        self.refresh()

    def _failed(self, error: BaseException) -> None:
        self._say(describe(error).text, "error")
        if isinstance(error, Unavailable):
            self.session.runner.failed.emit(error, None)  # the message bar and the reconnect probe


def draft_of(endpoint: EndpointRow, *, active: bool) -> EndpointDraft:
    """The endpoint as a draft (what an edit sends), paused or resumed."""
    return EndpointDraft(
        url=endpoint.url,
        events=tuple(endpoint.events),
        description=endpoint.description,
        active=active,
        allow_private=endpoint.allow_private,
    )


__all__ = [
    "DeliveryDelegate",
    "DeliveryPanel",
    "EndpointModel",
    "IntegrationsPage",
    "WorkerLine",
    "delivery_state",
    "delivery_style",
    "status_words",
]
