"""The panel beside a list that shows the selected record: one frame for the users, inventory and
reports pages, so they behave alike — a hint while nothing is selected, then a heading, a state
line and labelled values that can be selected and copied, scrolling down but never sideways."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ecomdesk.ui.widgets import heading, hint

_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse


class DetailsPanel(QScrollArea):
    """Subclasses lay out `self.details` (its layout is theirs) from the parts made here and show a
    record with `show_details(True)`; `show_details(False)` brings the hint back."""

    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body = QWidget(self)
        self.empty = hint(empty_text, self.body)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.details = QWidget(self.body)
        self.values: dict[str, QLabel] = {}
        column = QVBoxLayout(self.body)
        column.addWidget(self.empty)
        column.addWidget(self.details, 1)
        self.setWidget(self.body)

    def title_label(self) -> QLabel:
        """The record's name: large, wrapping, selectable."""
        label = heading("", self.details, 1.3)
        label.setWordWrap(True)
        label.setTextInteractionFlags(_SELECTABLE)
        return label

    def state_label(self, name: str) -> QLabel:
        """One line of state (active, low stock, failed …), hidden while empty."""
        label = QLabel(self.details)
        label.setObjectName(name)
        label.setWordWrap(True)
        return label

    def value_grid(self, fields: Sequence[tuple[str, str]]) -> QGridLayout:
        """A label and a selectable value per (key, label), the values in `self.values`. A grid,
        not a form layout: QFormLayout leaves a value that wraps one line high in a scroll area."""
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        for row, (key, label) in enumerate(fields):
            value = QLabel(self.details)
            value.setWordWrap(True)
            value.setTextInteractionFlags(_SELECTABLE)
            value.setAccessibleName(label)
            self.values[key] = value
            grid.addWidget(QLabel(label, self.details), row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, 1)
        return grid

    def fit_width(self) -> None:
        """At least as wide as the details need, so they never scroll sideways."""
        self.setMinimumWidth(
            self.details.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width()
        )

    def show_details(self, shown: bool) -> None:
        self.empty.setVisible(not shown)
        self.details.setVisible(shown)
