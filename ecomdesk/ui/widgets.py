"""Small building blocks the shell's windows share: headings, hints, inline errors, a busy bar,
a progress row with Cancel,
a question that does not block, and centring a card so word-wrapped text inside it gets its full
height."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


def page_action(
    page: QWidget,
    text: str,
    keys: QKeySequence | QKeySequence.StandardKey | None = None,
    *,
    tip: str = "",
) -> QAction:
    """An action of one page: its shortcut works while focus is anywhere inside the page (and
    nowhere else, so Ctrl+N means each page's own "new"), its tip shows as tooltip and status."""
    action = QAction(text, page)
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    if keys is not None:
        action.setShortcut(keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    page.addAction(action)
    return action


def heading(text: str, parent: QWidget, scale: float = 1.5) -> QLabel:
    label = QLabel(text, parent)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    label.setFont(font)
    return label


def hint(text: str, parent: QWidget) -> QLabel:
    """Secondary text in the palette's placeholder colour (the theme's `#hint` rule)."""
    label = QLabel(text, parent)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def error_label(parent: QWidget) -> QLabel:
    """An inline problem, in the theme's error colour; hidden while empty."""
    label = QLabel(parent)
    label.setObjectName("fieldError")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.hide()
    return label


def busy_bar(parent: QWidget) -> QProgressBar:
    """A thin indeterminate bar: something is happening, with no promise of how long."""
    bar = QProgressBar(parent)
    bar.setRange(0, 0)
    bar.setTextVisible(False)
    bar.setMaximumHeight(max(4, bar.fontMetrics().height() // 3))
    bar.hide()
    return bar


class ProgressRow(QWidget):
    """A long job's row in a dialog: what it is doing, a thin bar, and Cancel (hidden until used)."""

    def __init__(self, cancel_name: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(max(6, self.bar.fontMetrics().height() // 2))
        self.label = QLabel(self)
        self.label.setObjectName("hint")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName(cancel_name)
        self.cancel_button.setAutoDefault(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        self.hide()


def ask(
    parent: QWidget, title: str, text: str, yes: str, then: Callable[[], None], *, danger: bool = False
) -> QMessageBox:
    """A window-modal question answered later, never in a nested `exec()` loop: `then` runs when
    the person picks `yes`; Cancel (the default, and Esc) does nothing. The box deletes itself."""
    icon = QMessageBox.Icon.Warning if danger else QMessageBox.Icon.Question
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("confirmation")
    go = box.addButton(QMessageBox.StandardButton.Yes)
    go.setText(yes)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.finished.connect(lambda _result: then() if box.clickedButton() is go else None)
    box.open()
    return box


def centre(widget: QWidget, parent: QWidget) -> QBoxLayout:
    """Lay `widget` out in the middle of `parent`.

    Stretches rather than an alignment flag: Qt's box layouts give an aligned item only its plain
    size hint, so word-wrapped labels inside it would be cut off after their first lines.
    """
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(widget)
    row.addStretch(1)
    outer = QVBoxLayout(parent)
    outer.addStretch(1)
    outer.addLayout(row)
    outer.addStretch(1)
    return outer


def size_for_rows(dialog: QWidget, parent: QWidget | None, ems: tuple[int, int] = (72, 42)) -> None:
    """Size a dialog that shows a grid of rows: `ems` (width, height in the font's M), grown to
    four fifths of the window it belongs to, never larger than that window."""
    em = dialog.fontMetrics().horizontalAdvance("M")
    dialog.resize(em * ems[0], em * ems[1])
    if parent is not None:
        window = parent.window()
        dialog.resize(
            min(max(dialog.width(), window.width() * 4 // 5), window.width()),
            min(max(dialog.height(), window.height() * 4 // 5), window.height()),
        )


def action_buttons(
    bar: QBoxLayout, actions: Sequence[QAction], parent: QWidget
) -> dict[QAction, QToolButton]:
    """A page's actions as text buttons in its top bar (they follow each action's text, tip and
    enabled state), by action."""
    buttons: dict[QAction, QToolButton] = {}
    for action in actions:
        button = QToolButton(parent)
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.addWidget(button)
        buttons[action] = button
    return buttons


def remembered_splitter(
    key: str,
    orientation: Qt.Orientation,
    parts: Sequence[tuple[QWidget, int]],
    sizes: Sequence[int],
    parent: QWidget,
) -> QSplitter:
    """A splitter of (widget, stretch) parts whose position is kept in QSettings under `key`
    ("inventory/splitter"); `sizes` until the user has moved it. No part collapses to nothing."""
    splitter = QSplitter(orientation, parent)
    splitter.setObjectName(key.replace("/", "_"))
    for index, (widget, stretch) in enumerate(parts):
        splitter.addWidget(widget)
        splitter.setStretchFactor(index, stretch)
    splitter.setChildrenCollapsible(False)
    state = QSettings().value(key)
    if not (state and splitter.restoreState(state)):
        splitter.setSizes(list(sizes))
    splitter.splitterMoved.connect(lambda *_args: QSettings().setValue(key, splitter.saveState()))
    return splitter


def focus_within(page: QWidget, default: QWidget) -> None:
    """A page just shown keeps the focus it had inside it; otherwise `default` (its list, say) takes
    it, so the keyboard works at once without a click."""
    focus = page.focusWidget()
    if focus is None or not page.isAncestorOf(focus):
        default.setFocus()
