"""The message bar: errors and notices shown inline above the page, never as a blocking dialog.

Fed by `ui.errors.describe` (the one error-to-message path), so every failure reads the same.
An unexpected error offers to open the log folder that holds its traceback. The same message
arriving again only counts up, so a failing auto-refresh cannot flood the window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QToolButton,
    QWidget,
)

from ecomdesk.ui.errors import Severity, UserMessage, describe
from ecomdesk.ui.icons import themed_icon
from ecomdesk.ui.theme import Kind, is_theme_change, text_colour, tint

#: Notices (not problems) go away by themselves after this long.
INFO_TIMEOUT_MS: Final = 8000

_KIND: Final[dict[Severity, Kind]] = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.ERROR: "error",
}
_ICON: Final = {
    Severity.INFO: QStyle.StandardPixmap.SP_MessageBoxInformation,
    Severity.WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning,
    Severity.ERROR: QStyle.StandardPixmap.SP_MessageBoxCritical,
}


def open_folder(path: Path) -> bool:
    """Show a folder in the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class MessageBar(QFrame):
    """One message at a time (the newest); dismissable; hidden while there is nothing to say."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setAccessibleName("Message")
        self.message: UserMessage | None = None
        self.repeats = 0
        self._action: Callable[[], None] | None = None

        self._icon = QLabel(self)
        self._title = QLabel(self)
        self._title.setObjectName("messageTitle")
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._text = QLabel(self)
        self._text.setWordWrap(True)
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._action_button = QPushButton(self)
        self._action_button.clicked.connect(self._run_action)
        self._log_button = QPushButton("Open log folder", self)
        self._log_button.setAccessibleName("Open the folder that holds the log file")
        self._log_button.clicked.connect(self._open_log_folder)
        self._close = QToolButton(self)
        self._close.setAutoRaise(True)
        self._close.setToolTip("Dismiss")
        self._close.setAccessibleName("Dismiss message")
        self._close.clicked.connect(self.dismiss)

        layout = QHBoxLayout(self)
        layout.addWidget(self._icon)
        layout.addWidget(self._title)
        layout.addWidget(self._text, 1)
        layout.addWidget(self._action_button)
        layout.addWidget(self._log_button)
        layout.addWidget(self._close)

        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self.dismiss)
        self.hide()

    @property
    def text(self) -> str:
        return self._text.text()

    @property
    def log_button(self) -> QPushButton:
        return self._log_button

    @property
    def action_button(self) -> QPushButton:
        return self._action_button

    def show_error(self, error: BaseException) -> UserMessage:
        """Describe `error` through the one error path and show it."""
        message = describe(error)
        self.show_message(message)
        return message

    def show_message(
        self, message: UserMessage, *, action: tuple[str, Callable[[], None]] | None = None
    ) -> None:
        """Show `message`, replacing the current one; `action`: a button (label, callback)."""
        self.repeats = self.repeats + 1 if message == self.message and self.isVisible() else 1
        self.message = message
        self._action = action[1] if action else None
        self._title.setText(message.title)
        suffix = f" ({self.repeats}×)" if self.repeats > 1 else ""
        self._text.setText(message.text + suffix)
        self._action_button.setText(action[0] if action else "")
        self._action_button.setVisible(action is not None)
        self._log_button.setVisible(message.log_path is not None)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        self._icon.setPixmap(self.style().standardIcon(_ICON[message.severity]).pixmap(size, size))
        self._restyle()
        self.show()
        self.setAccessibleDescription(f"{message.title}: {message.text}")
        if message.severity is Severity.INFO:
            self._hide_timer.start(INFO_TIMEOUT_MS)
        else:
            self._hide_timer.stop()

    def dismiss(self) -> None:
        self._hide_timer.stop()
        was_visible = self.isVisible()
        self.hide()
        self.message = None
        self.repeats = 0
        if was_visible:
            self.dismissed.emit()

    def _run_action(self) -> None:
        action = self._action
        self.dismiss()
        if action is not None:
            action()

    def _open_log_folder(self) -> None:
        if self.message is not None and self.message.log_path is not None:
            open_folder(self.message.log_path.parent)

    def _restyle(self) -> None:
        kind = _KIND[self.message.severity] if self.message else "info"
        # The application's palette: this widget's own is tinted by the very style sheet set here.
        palette = QApplication.palette()
        background, border = tint(palette, kind)
        sheet = (
            f"QFrame#messageBar {{ background: {background.name()}; border: 1px solid {border.name()};"
            " border-radius: 0.3em; }"
            f" QLabel#messageTitle {{ color: {text_colour(palette, kind).name()}; }}"
        )
        if sheet != self.styleSheet():  # (a style sheet change is itself a palette change)
            self.setStyleSheet(sheet)
        self._close.setIcon(themed_icon("close", palette.color(QPalette.ColorRole.WindowText)))

    def changeEvent(self, event: QEvent) -> None:
        # The theme changed: pick this message's colours again from the new palette.
        if is_theme_change(event) and self.message:
            self._restyle()
        super().changeEvent(event)
