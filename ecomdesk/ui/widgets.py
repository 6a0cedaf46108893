"""Small building blocks the shell's windows share: headings, hints, inline errors, a busy bar,
and centring a card so word-wrapped text inside it gets its full height."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget


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
