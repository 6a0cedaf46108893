"""The small dialog the roles page opens to create a role or to rename one.

The dialog does not save anything itself: OK emits `submitted`, the page runs the service call in the
background, and the dialog stays open — with the person's input and the service's messages next to
the fields — until the call succeeds. So a refused name never costs the typing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.context import Actor
from ecomdesk.services.errors import ValidationError
from ecomdesk.services.roles import MAX_NAME, RoleInfo
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import Field, StatusLine, clear_errors, show_errors
from ecomdesk.ui.widgets import hint

#: The service's own limit for a role's description.
MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class RoleInput:
    """What the dialog's fields hold when OK is pressed."""

    name: str
    description: str
    #: The permissions to start from (create only); empty when starting from nothing.
    permissions: frozenset[str]


class RoleDialog(QDialog):
    """Name, description and (when creating) a role whose permissions the new one starts with."""

    #: OK was pressed: the page reads `values()` and saves through the task runner.
    submitted = Signal()

    def __init__(
        self,
        title: str,
        *,
        ok_text: str,
        actor: Actor,
        name: str = "",
        description: str = "",
        start_from: Sequence[RoleInfo] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.name = QLineEdit(name, self)
        self.name.setMaxLength(MAX_NAME)
        self.name.setAccessibleName("Role name")
        self.description = QLineEdit(description, self)
        self.description.setMaxLength(MAX_DESCRIPTION)
        self.description.setPlaceholderText("What people with this role do")
        self.description.setAccessibleName("Role description")
        self.fields: dict[str, Field] = {
            "name": Field(self.name, self),
            "description": Field(self.description, self),
        }
        form = QFormLayout()
        form.addRow("Name", self.fields["name"])
        form.addRow("Description", self.fields["description"])
        self.start_from: QComboBox | None = None
        if start_from is not None:
            self.start_from = self._start_from_box(start_from, actor)
            self.fields["permissions"] = Field(self.start_from, self)
            form.addRow("Start from", self.fields["permissions"])
        self.status = StatusLine(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self._ok_text = ok_text
        self._busy = False
        self.buttons.accepted.connect(self._submit)  # not accept(): the dialog closes once saved
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        if start_from is not None:
            layout.addWidget(hint("You can change every permission in the matrix afterwards.", self))
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 36)

    def _start_from_box(self, roles: Sequence[RoleInfo], actor: Actor) -> QComboBox:
        """Roles whose rights the actor does not all hold are listed but cannot be chosen: the
        service would refuse to hand those rights out."""
        box = QComboBox(self)
        box.setAccessibleName("Start from the permissions of")
        box.addItem("No permissions", frozenset())
        items = box.model()
        for role in roles:
            box.addItem(f"{role.name} ({len(role.permissions)} permissions)", role.permissions)
            missing = sorted(role.permissions - actor.permissions)
            if missing and isinstance(items, QStandardItemModel):
                item = items.item(box.count() - 1)
                item.setEnabled(False)
                item.setToolTip(f"It holds rights you don't have yourself ({', '.join(missing)}).")
        return box

    def values(self) -> RoleInput:
        permissions = self.start_from.currentData() if self.start_from is not None else None
        return RoleInput(
            self.name.text(),
            self.description.text(),
            permissions if isinstance(permissions, frozenset) else frozenset(),
        )

    @property
    def busy(self) -> bool:
        return self._busy

    def set_busy(self, busy: bool, text: str = "") -> None:
        """While the service works the dialog says what it does, and neither OK nor closing it is
        possible: the call cannot be taken back, and its answer belongs in this dialog."""
        self._busy = busy
        self.ok_button.setEnabled(not busy)
        self.ok_button.setText(text if busy and text else self._ok_text)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(not busy)
        if busy:
            self.status.say("", "hint")

    def reject(self) -> None:
        """Cancel, Esc and the window's close button (QDialog routes all three here)."""
        if not self._busy:
            super().reject()

    def show_error(self, error: BaseException) -> None:
        """Say why nothing was saved; the input stays as typed."""
        self.set_busy(False)
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self.status.say(" ".join(["Please check the marked fields.", *rest]), "error")
        else:
            clear_errors(self.fields)
            self.status.say(describe(error).text, "error")

    def _submit(self) -> None:
        clear_errors(self.fields)
        self.status.say("", "hint")
        self.submitted.emit()
