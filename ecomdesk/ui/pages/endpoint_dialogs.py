"""The dialogs of the Integrations page: add or edit a webhook endpoint, and the one showing of an
endpoint's signing secret.

The endpoint form lists every event type with what it means, so an admin picks by meaning rather
than by name. The service validates the URL (https, no private address unless allowed) on save;
a refused save keeps every input as typed and puts the messages next to their fields.
"""

from __future__ import annotations

from typing import Final

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import ValidationError
from ecomdesk.services.events import ALL_EVENTS, EVENT_TYPES
from ecomdesk.services.webhooks import CreatedEndpoint, EndpointDraft, EndpointRow
from ecomdesk.ui.errors import not_saved
from ecomdesk.ui.forms import Field, FormGrid, clear_errors, dialog_footer, grow_to_fit, show_errors
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.widgets import hint

PRIVATE_WARNING: Final = (
    "Only for a receiver inside your own network: it lets anyone who can edit endpoints make the "
    "workers send requests to office machines."
)


class EventChecklist(QWidget):
    """ "All events" over one checkbox per event type, each with its meaning beneath it. "All"
    subscribes to types later versions add too, so it disables (and ticks) the single ones."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.all = QCheckBox("All events, including those added by later versions", self)
        self.all.setAccessibleName("All events")
        self.boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(0)
        grid.addWidget(self.all, 0, 0, 1, 2)
        indent = self.all.style().pixelMetric(self.all.style().PixelMetric.PM_IndicatorWidth) + 6
        row = 1
        for name, meaning in EVENT_TYPES.items():
            box = QCheckBox(name, self)
            box.setAccessibleName(name)
            box.setAccessibleDescription(meaning)
            box.setToolTip(meaning)
            self.boxes[name] = box
            about = hint(meaning, self)
            about.setContentsMargins(indent, 0, 0, 4)
            grid.addWidget(box, row, 0, 1, 2)
            grid.addWidget(about, row + 1, 0, 1, 2)
            row += 2
        self.all.toggled.connect(self._all_toggled)

    def _all_toggled(self, on: bool) -> None:
        for box in self.boxes.values():
            box.setEnabled(not on)

    def set_events(self, events: tuple[str, ...] | list[str]) -> None:
        chosen = set(events)
        self.all.setChecked(ALL_EVENTS in chosen)
        for name, box in self.boxes.items():
            box.setChecked(name in chosen)
        self._all_toggled(self.all.isChecked())

    def events(self) -> list[str]:
        if self.all.isChecked():
            return [ALL_EVENTS]
        return [name for name, box in self.boxes.items() if box.isChecked()]


class EndpointDialog(QDialog):
    """Add an endpoint (`endpoint` None) or edit one. `saved` carries a `CreatedEndpoint` after an
    add (its secret is shown once, by the page) and the new `EndpointRow` after an edit."""

    saved = Signal(object)

    def __init__(
        self, session: AppSession, endpoint: EndpointRow | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.endpoint = endpoint
        self.setWindowTitle("Edit webhook endpoint" if endpoint is not None else "Add webhook endpoint")
        self.setObjectName("endpointDialog")

        self.url = QLineEdit(self)
        self.url.setPlaceholderText("https://erp.example.com/hooks/ecomdesk")
        self.url.setAccessibleName("URL")
        self.description = QLineEdit(self)
        self.description.setPlaceholderText("What receives these events, e.g. “ERP order sync”")
        self.description.setAccessibleName("Description")
        self.description.setMaxLength(200)
        self.events = EventChecklist(self)
        self.active = QCheckBox("Active: deliver events to this URL", self)
        self.active.setAccessibleName("Active")
        self.active.setChecked(True)
        self.allow_private = QCheckBox("Allow an address in a private network", self)
        self.allow_private.setAccessibleName("Allow an address in a private network")
        private_row = QWidget(self)
        private = QVBoxLayout(private_row)
        private.setContentsMargins(0, 0, 0, 0)
        private.setSpacing(0)
        private.addWidget(self.allow_private)
        self.private_warning = hint(PRIVATE_WARNING, private_row)
        private.addWidget(self.private_warning)

        events_frame = QFrame(self)
        events_frame.setFrameShape(QFrame.Shape.StyledPanel)
        QVBoxLayout(events_frame).addWidget(self.events)
        self.fields: dict[str, Field] = {
            "url": Field(self.url, self),
            "description": Field(self.description, self),
            "events": Field(events_frame, self),
            "active": Field(self.active, self),
            "allow_private": Field(private_row, self),
        }
        form = FormGrid()
        form.add_row("&URL", self.fields["url"], buddy=self.url)
        form.add_row("&Description", self.fields["description"], buddy=self.description)
        form.add_row("Events", self.fields["events"])
        form.add_row("", self.fields["active"])
        form.add_row("", self.fields["allow_private"])
        if endpoint is None:
            form.add_row(
                "",
                hint(
                    "A signing secret is made for the endpoint and shown once, to set up the receiver.",
                    self,
                ),
            )

        footer = dialog_footer(self, self.save, save_text="Add endpoint" if endpoint is None else "Save")
        self.status, self.busy, self.buttons, self.save_button = (
            footer.status,
            footer.busy,
            footer.buttons,
            footer.save_button,
        )
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        footer.add_to(layout)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 44)
        if endpoint is not None:
            self._fill(endpoint)
        else:
            self.events.set_events([])

    def _fill(self, endpoint: EndpointRow) -> None:
        self.url.setText(endpoint.url)
        self.description.setText(endpoint.description)
        self.events.set_events(list(endpoint.events))
        self.active.setChecked(endpoint.active)
        self.allow_private.setChecked(endpoint.allow_private)

    def draft(self) -> EndpointDraft:
        return EndpointDraft(
            url=self.url.text().strip(),
            events=tuple(self.events.events()),
            description=self.description.text().strip(),
            active=self.active.isChecked(),
            allow_private=self.allow_private.isChecked(),
        )

    def save(self) -> None:
        services, actor, endpoint = self.session.services, self.session.actor, self.endpoint
        draft = self.draft()
        clear_errors(self.fields)
        self.status.say("Saving…")
        self._set_busy(True)
        if endpoint is None:
            self.session.runner.submit(
                lambda _control: services.webhooks.add_endpoint(actor, draft),
                on_done=self._saved,
                on_error=self._save_failed,
                owner=self,
                description="add a webhook endpoint",
            )
        else:
            self.session.runner.submit(
                lambda _control: services.webhooks.update_endpoint(actor, endpoint.id, draft),
                on_done=self._saved,
                on_error=self._save_failed,
                owner=self,
                description=f"save the webhook endpoint {endpoint.url}",
            )

    def _saved(self, result: CreatedEndpoint | EndpointRow) -> None:
        self._set_busy(False)
        self.saved.emit(result)
        self.accept()

    def _save_failed(self, error: BaseException) -> None:
        """Nothing typed is lost: the messages go next to their fields, the rest into the status."""
        self._set_busy(False)
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self.status.say(" ".join(["Nothing was saved: please check the marked fields.", *rest]), "error")
        else:
            self.status.say(not_saved(error), "error")
        grow_to_fit(self)

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.save_button.setEnabled(not busy)


class SecretDialog(QDialog):
    """An endpoint's signing secret, shown this once, with a button to copy it."""

    def __init__(self, url: str, secret: str, *, rotated: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Signing secret")
        self.setObjectName("secretDialog")
        opening = (
            f"The endpoint {url} has a new signing secret; the old one no longer signs anything."
            if rotated
            else f"The endpoint {url} was added."
        )
        intro = QLabel(
            f"{opening} Give this secret to the receiver: it checks the Ecomdesk-Signature header "
            "of every delivery with it (HMAC-SHA256).",
            self,
        )
        intro.setWordWrap(True)
        self.secret = QLineEdit(secret, self)
        self.secret.setReadOnly(True)
        self.secret.setAccessibleName("Signing secret")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(self.font().pointSizeF() * 1.15)
        self.secret.setFont(font)
        self.secret.setMinimumWidth(self.secret.fontMetrics().horizontalAdvance(secret) + 16)
        self.secret.selectAll()
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        row.addWidget(self.secret, 1)
        row.addWidget(self.copy_button)
        once = QLabel("You won't see this secret again: copy it now.", self)
        once.setObjectName("secretOnce")
        bold = once.font()
        bold.setBold(True)
        once.setFont(bold)
        once.setWordWrap(True)
        self.copied = hint("", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(once)
        layout.addWidget(self.copied)
        layout.addWidget(buttons)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 36)
        self.copy_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.secret.text())
        self.copied.setText("Copied. Paste it into the receiver's settings, then clear your clipboard.")


__all__ = ["PRIVATE_WARNING", "EndpointDialog", "EventChecklist", "SecretDialog"]
