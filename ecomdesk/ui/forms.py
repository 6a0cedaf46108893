"""What every editing form shares: an input with its validation message right under it, a status line
that says what happened to the last save, and the one way a `ValidationError` lands on those fields.

A failed save never clears the form: the person's input stays, the messages appear next to the
offending fields, and the first of them gets the focus.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QBoxLayout,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import ValidationError
from ecomdesk.ui.theme import is_theme_change, text_colour
from ecomdesk.ui.widgets import busy_bar

StatusKind = Literal["hint", "success", "error"]


class Field(QWidget):
    """An input with its validation message right under it (hidden while there is none)."""

    def __init__(self, editor: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.error = QLabel(self)
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor)
        layout.addWidget(self.error)

    def set_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))
        self.editor.setAccessibleDescription(message or "")

    @property
    def message(self) -> str:
        return self.error.text() if self.error.isVisibleTo(self) else ""


def clear_errors(fields: Mapping[str, Field]) -> None:
    for field in fields.values():
        field.set_error(None)


def show_errors(fields: Mapping[str, Field], error: ValidationError) -> list[str]:
    """Put each message next to its field and focus the first of them in the form's order; returns
    the messages no field shows (for the form's status line)."""
    clear_errors(fields)
    for name, field in fields.items():
        if name in error.fields:
            field.set_error(error.fields[name])
    first = next((field for name, field in fields.items() if name in error.fields), None)
    if first is not None:
        first.editor.setFocus()
    return [message for name, message in error.fields.items() if name not in fields]


class StatusLine(QLabel):
    """One sentence about the form's state: a hint, a success, or why nothing was saved —
    in the theme's colours, repainted when the theme changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.kind: StatusKind = "hint"
        self.hide()

    def say(self, text: str, kind: StatusKind = "hint") -> None:
        self.kind = kind
        self.setText(text)
        self.setVisible(bool(text))
        if kind == "hint":
            self.setObjectName("hint")
            sheet = ""
        else:
            self.setObjectName("")
            sheet = f"color: {text_colour(self.palette(), kind).name()};"
        if sheet != self.styleSheet():  # an equal sheet would only send another StyleChange
            self.setStyleSheet(sheet)
        self.style().unpolish(self)
        self.style().polish(self)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and event.type() != QEvent.Type.PaletteChange and self.kind != "hint":
            self.say(self.text(), self.kind)


class FormGrid(QGridLayout):
    """Label and input rows, as QFormLayout lays them out, except that a value or message that
    wraps gets the height it needs: QFormLayout under-measures such rows, and their last lines
    were cut off."""

    def __init__(self) -> None:
        super().__init__()
        self.setColumnStretch(1, 1)
        self.rows = 0

    def add_row(self, label: str | QLabel, widget: QWidget, *, buddy: QWidget | None = None) -> QLabel | None:
        """Add a row; the label lines up with its input's first line, and its mnemonic (Alt+letter)
        focuses `buddy`. An empty label makes none: hiding `widget` then hides the whole row."""
        first = widget.editor if isinstance(widget, Field) else widget
        if isinstance(first, QLabel):  # text beside text: both from the row's top
            first.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.addWidget(widget, self.rows, 1)
        self.rows += 1
        if label == "":
            return None
        text = label if isinstance(label, QLabel) else QLabel(label, widget.parentWidget())
        if buddy is not None:
            text.setBuddy(buddy)
        line = text.fontMetrics().height() if isinstance(first, QLabel) else first.sizeHint().height()
        text.setMinimumHeight(line)
        text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.addWidget(text, self.rows - 1, 0, Qt.AlignmentFlag.AlignTop)
        return text


def grow_to_fit(window: QWidget) -> None:
    """Make a shown dialog tall enough for text that wrapped after it opened (a message next to a
    field, a longer preview): Qt sizes a window when it opens, and wrapped labels do not grow it."""
    layout = window.layout()
    if layout is None or not window.isVisible():
        return
    layout.activate()
    width = window.width()
    needed = (
        layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalSizeHint().height()
    )
    if needed > window.height():
        window.resize(width, needed)


@dataclass(frozen=True)
class DialogFooter:
    """The end of every editing dialog: what happened to the last save, a busy bar while it runs,
    and Save / Cancel (Enter saves, Esc cancels)."""

    status: StatusLine
    busy: QProgressBar
    buttons: QDialogButtonBox
    save_button: QPushButton

    def add_to(self, layout: QBoxLayout) -> None:
        layout.addWidget(self.status)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)


def dialog_footer(
    dialog: QDialog, on_save: Callable[[], None], *, save_text: str = "Save", status_name: str = "Save status"
) -> DialogFooter:
    status = StatusLine(dialog)
    status.setAccessibleName(status_name)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, dialog
    )
    save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
    save_button.setText(save_text)
    buttons.accepted.connect(on_save)
    buttons.rejected.connect(dialog.reject)
    return DialogFooter(status, busy_bar(dialog), buttons, save_button)


@dataclass(frozen=True)
class SaveRevert:
    """The end of a settings section on a page: its status line, then Revert and Save on the right."""

    status: StatusLine
    save_button: QPushButton
    revert_button: QPushButton

    def add_to(self, layout: QBoxLayout) -> None:
        layout.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.revert_button)
        row.addWidget(self.save_button)
        layout.addLayout(row)


def save_revert(
    owner: QWidget, on_save: Callable[[], None], on_revert: Callable[[], None], *, what: str, status_name: str
) -> SaveRevert:
    """`what` names the section in the buttons' names for screen readers ("the shop settings")."""
    status = StatusLine(owner)
    status.setAccessibleName(status_name)
    save = QPushButton("Save", owner)
    save.setAccessibleName(f"Save {what}")
    save.clicked.connect(on_save)
    revert = QPushButton("Revert", owner)
    revert.setAccessibleName(f"Undo unsaved changes to {what}")
    revert.clicked.connect(on_revert)
    return SaveRevert(status, save, revert)
