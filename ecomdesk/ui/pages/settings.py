"""The settings page: this computer's preferences (applied as they change), and the shop's system
settings from the database — editable with `settings.manage`, shown read-only to everyone else
(staff may need to know the lockout policy or the currency; only administrators change them).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import Conflict, ValidationError
from ecomdesk.services.mail import EmailPreferences, SmtpStatus
from ecomdesk.services.settings import INT_LIMITS, MAX_SHOP_NAME, SystemSettings
from ecomdesk.ui.errors import describe, not_saved
from ecomdesk.ui.forms import Field, StatusKind, StatusLine, clear_errors, save_revert, show_errors
from ecomdesk.ui.permissions import READ_ONLY
from ecomdesk.ui.preferences import REFRESH_RANGE_S, Preferences, ThemeMode
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.widgets import hint

#: Field → (label, suffix, accessible description) of the shop's integer settings, in form order.
_NUMBERS: dict[str, tuple[str, str, str]] = {
    "low_stock_threshold": (
        "Low stock at",
        " units or fewer",
        "Items with this many units available or fewer count as low on stock, unless the item "
        "has its own reorder level.",
    ),
    "session_lifetime_days": ("Remember sign-ins for", " days", "How long “Remember me” lasts."),
    "lockout_after_failures": (
        "Wait after",
        " failed sign-ins",
        "Failed sign-ins in a row before each further attempt must wait.",
    ),
    "disable_after_failures": (
        "Disable account after",
        " failed sign-ins",
        "Failed sign-ins in a row that disable the account until an administrator unlocks it.",
    ),
    "max_delay_seconds": ("Longest wait", " seconds", "The wait doubles with each failure up to this."),
}


def _title(text: str, parent: QWidget, scale: float = 1.6) -> QLabel:
    label = QLabel(text, parent)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    label.setFont(font)
    return label


class PreferencesBox(QGroupBox):
    """This computer's preferences; each change is saved and applied at once."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__("On this computer", parent)
        self._session = session
        prefs = session.preferences
        self.theme = QComboBox(self)
        for mode in ThemeMode:
            self.theme.addItem(mode.label, mode)
        self.theme.setAccessibleName("Theme")
        self.refresh = QSpinBox(self)
        self.refresh.setRange(*REFRESH_RANGE_S)
        self.refresh.setSuffix(" seconds")
        self.refresh.setAccessibleName("Check for changes every")
        self.refresh.setToolTip(
            "How often this app asks the database what others changed. Where the connection allows "
            "it, a change shows at once anyway; a minimized window asks less often."
        )
        self.confirm_delete = QCheckBox("Ask before deleting anything", self)
        self.confirm_delete.setAccessibleName("Confirm before delete")
        hint = QLabel("Only for you, on this computer. Changes apply at once.", self)
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Theme", self.theme)
        form.addRow("Check for changes every", self.refresh)
        form.addRow("", self.confirm_delete)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(hint)
        self._show(prefs)
        self.theme.currentIndexChanged.connect(self._theme_chosen)
        self.refresh.valueChanged.connect(lambda value: setattr(prefs, "refresh_interval", value))
        self.confirm_delete.toggled.connect(lambda ask: setattr(prefs, "confirm_delete", ask))
        # A bound method, not a lambda: Qt drops the connection when this box is deleted, while the
        # preferences live on.
        prefs.changed.connect(self._preferences_changed)

    def _preferences_changed(self, _key: str) -> None:
        self._show(self._session.preferences)

    def _show(self, prefs: Preferences) -> None:
        for widget, value in (
            (self.theme, self.theme.findData(prefs.theme)),
            (self.refresh, prefs.refresh_interval),
            (self.confirm_delete, prefs.confirm_delete),
        ):
            widget.blockSignals(True)
            if isinstance(widget, QComboBox):
                widget.setCurrentIndex(int(value))
            elif isinstance(widget, QSpinBox):
                widget.setValue(int(value))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            widget.blockSignals(False)

    def _theme_chosen(self, index: int) -> None:
        mode = self.theme.itemData(index)
        if isinstance(mode, ThemeMode):
            self._session.theme.set_mode(mode)


class ShopSettingsBox(QGroupBox):
    """The shop's settings from the database, loaded and saved through the task runner."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__("Shop — for all staff", parent)
        self._session = session
        self.editable = not session.read_only and session.actor.can("settings.manage")
        self.loaded: SystemSettings | None = None

        self.shop_name = QLineEdit(self)
        self.shop_name.setMaxLength(MAX_SHOP_NAME)
        self.shop_name.setAccessibleName("Shop name")
        self.currency = QLineEdit(self)
        self.currency.setMaxLength(3)
        self.currency.setPlaceholderText("EUR")
        self.currency.setAccessibleName("Currency (ISO 4217 code)")
        self.currency.setMaximumWidth(self.currency.fontMetrics().horizontalAdvance("MMMMMM"))
        self.currency.textEdited.connect(self._upper_currency)
        self.numbers: dict[str, QSpinBox] = {}
        self.fields: dict[str, Field] = {
            "shop_name": Field(self.shop_name, self),
            "currency": Field(self.currency, self),
        }
        form = QFormLayout()
        form.addRow("Shop name", self.fields["shop_name"])
        form.addRow("Currency", self.fields["currency"])
        for name, (label, suffix, description) in _NUMBERS.items():
            spin = QSpinBox(self)
            spin.setRange(*INT_LIMITS[name])
            spin.setSuffix(suffix)
            spin.setGroupSeparatorShown(True)
            spin.setAccessibleName(label)
            spin.setToolTip(description)
            self.numbers[name] = spin
            self.fields[name] = Field(spin, self)
            form.addRow(label, self.fields[name])

        footer = save_revert(
            self, self.save, self._revert, what="the shop settings", status_name="Shop settings status"
        )
        self.status, self.save_button, self.revert_button = (
            footer.status,
            footer.save_button,
            footer.revert_button,
        )
        box = QVBoxLayout(self)
        box.addLayout(form)
        footer.add_to(box)
        for editor in (self.shop_name, self.currency):
            editor.textChanged.connect(self._update_buttons)
        for spin in self.numbers.values():
            spin.valueChanged.connect(self._update_buttons)

        if not self.editable:
            self.shop_name.setReadOnly(True)
            self.currency.setReadOnly(True)
            for spin in self.numbers.values():
                spin.setReadOnly(True)
                spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
            self.save_button.hide()
            self.revert_button.hide()
            self._say(
                READ_ONLY
                if session.read_only
                else "Only an administrator (with “settings.manage”) can change these.",
                "hint",
            )
        self.setEnabled(False)  # until loaded
        self._update_buttons()

    # -- values ------------------------------------------------------------------------------

    def form_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"shop_name": self.shop_name.text(), "currency": self.currency.text()}
        values.update({name: spin.value() for name, spin in self.numbers.items()})
        return values

    @property
    def dirty(self) -> bool:
        if self.loaded is None:
            return False
        saved = self.loaded.values()
        return any(saved[name] != value for name, value in self.form_values().items())

    def show_settings(self, settings: SystemSettings) -> None:
        self.loaded = settings
        self.shop_name.setText(settings.shop_name)
        self.currency.setText(settings.currency)
        for name, spin in self.numbers.items():
            spin.setValue(int(getattr(settings, name)))
        self._clear_errors()
        self.setEnabled(True)
        self._update_buttons()

    # -- loading and saving -----------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the settings again, unless the form holds unsaved edits (they are kept)."""
        if self.dirty:
            return
        services, actor = self._session.services, self._session.actor
        self._session.runner.submit(
            lambda _control: services.settings.get_system_settings(actor),
            on_done=self._loaded,
            key=f"settings.load.{id(self)}",
            owner=self,
            description="load the shop settings",
        )

    def _loaded(self, settings: SystemSettings) -> None:
        self._session.note_shop(settings)
        self._session.note_refreshed()
        if not self.dirty:
            self.show_settings(settings)

    def save(self) -> None:
        if not self.editable or self.loaded is None:
            return
        services, actor = self._session.services, self._session.actor
        changes, expected = self.form_values(), self.loaded.updated_at
        self.save_button.setEnabled(False)
        self._say("Saving…", "hint")
        self._session.runner.submit(
            lambda _control: services.settings.update_system_settings(actor, changes, expected),
            on_done=self._saved,
            on_error=self._save_failed,
            key=f"settings.save.{id(self)}",
            owner=self,
            description="save the shop settings",
        )

    def _saved(self, settings: SystemSettings) -> None:
        self.show_settings(settings)
        self._session.note_shop(settings)
        self._say("Saved for all staff.", "success")

    def _save_failed(self, error: BaseException) -> None:
        """Keep what the person typed; say what is wrong next to each field."""
        self._update_buttons()
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self._say(" ".join(["Nothing was saved: please check the marked fields.", *rest]), "error")
        elif isinstance(error, Conflict):
            self._say(f"{error.message} Use Revert to load their values.", "error")
        else:
            self._say(not_saved(error), "error")
            self._session.runner.failed.emit(error, None)  # the message bar and the reconnect probe

    def _revert(self) -> None:
        """Drop the edits and load what the database holds now (another admin's save included)."""
        if self.loaded is not None:
            self.show_settings(self.loaded)
        self._say("", "hint")
        self.reload()

    # -- looks -------------------------------------------------------------------------------

    def _upper_currency(self, text: str) -> None:
        if text != text.upper():
            position = self.currency.cursorPosition()
            self.currency.setText(text.upper())
            self.currency.setCursorPosition(position)

    def _update_buttons(self) -> None:
        dirty = self.dirty
        self.save_button.setEnabled(self.editable and dirty)
        self.revert_button.setEnabled(self.editable and dirty)

    def _clear_errors(self) -> None:
        clear_errors(self.fields)

    def _say(self, text: str, kind: StatusKind) -> None:
        self.status.say(text, kind)


class EmailAlertsBox(QGroupBox):
    """This person's alert e-mails (kept in the database, so they follow them to any computer);
    each tick is saved at once. Says when the shop's mail server is not set up, since a ticked box
    then sends nothing."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__("Your e-mail alerts", parent)
        self.setObjectName("emailAlertsBox")
        self._session = session
        self.loaded: EmailPreferences | None = None
        self.smtp: SmtpStatus | None = None
        self.digest = QCheckBox("E-mail me the daily low-stock digest", self)
        self.digest.setAccessibleName("E-mail me the daily low-stock digest")
        self.report_ready = QCheckBox("E-mail me when my report is ready", self)
        self.report_ready.setAccessibleName("E-mail me when my report is ready")
        self.address = hint("", self)
        self.smtp_hint = hint("", self)
        self.smtp_hint.setObjectName("hint")
        self.smtp_hint.hide()
        self.status = StatusLine(self)
        self.status.setAccessibleName("E-mail alerts status")
        self.fields = {
            "low_stock_digest": Field(self.digest, self),
            "report_ready": Field(self.report_ready, self),
        }
        box = QVBoxLayout(self)
        box.addWidget(self.fields["low_stock_digest"])
        box.addWidget(self.fields["report_ready"])
        box.addWidget(self.address)
        box.addWidget(self.smtp_hint)
        box.addWidget(self.status)
        self.digest.toggled.connect(lambda _on: self.save())
        self.report_ready.toggled.connect(lambda _on: self.save())
        if session.read_only:
            self.status.say(READ_ONLY)
        self.setEnabled(False)  # until loaded

    def reload(self) -> None:
        services, actor = self._session.services, self._session.actor

        def read(_control: object) -> tuple[EmailPreferences, SmtpStatus]:
            return services.mail.preferences(actor), services.mail.smtp_status(actor)

        self._session.runner.submit(
            read,
            on_done=lambda found: self._loaded(*found),
            on_error=lambda error: self.status.say(describe(error).text, "error"),
            key=f"settings.alerts.load.{id(self)}",
            owner=self,
            description="load your e-mail alerts",
        )

    def _loaded(self, preferences: EmailPreferences, smtp: SmtpStatus) -> None:
        self.smtp = smtp
        self.show_preferences(preferences)
        if not smtp.configured:
            who = (
                "Set it up on the Integrations page (E-mail)."
                if self._session.actor.can("integrations.manage")
                else "Ask an administrator to set it up."
            )
            self.smtp_hint.setText(f"The shop's e-mail server is not set up yet, so no alert is sent. {who}")
        self.smtp_hint.setVisible(not smtp.configured)

    def show_preferences(self, preferences: EmailPreferences) -> None:
        self.loaded = preferences
        for box, on, may, why in (
            (
                self.digest,
                preferences.low_stock_digest,
                preferences.may_have_digest,
                "Your role cannot see the inventory, so it gets no low-stock digest.",
            ),
            (
                self.report_ready,
                preferences.report_ready,
                preferences.may_have_report_ready,
                "Your role cannot open reports, so it gets no report e-mails.",
            ),
        ):
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)
            box.setEnabled((may or on) and not self._session.read_only)
            box.setToolTip("" if may else why)
        self.address.setText(f"Sent to {preferences.email}.")
        clear_errors(self.fields)
        self.setEnabled(True)

    def save(self) -> None:
        if self.loaded is None or self._session.read_only:
            return
        services, actor = self._session.services, self._session.actor
        digest, ready = self.digest.isChecked(), self.report_ready.isChecked()
        self.status.say("Saving…")
        self._session.runner.submit(
            lambda _control: services.mail.set_preferences(
                actor, low_stock_digest=digest, report_ready=ready
            ),
            on_done=self._saved,
            on_error=self._save_failed,
            key=f"settings.alerts.save.{id(self)}",
            owner=self,
            description="save your e-mail alerts",
        )

    def _saved(self, preferences: EmailPreferences) -> None:
        self.show_preferences(preferences)
        self.status.say("Saved.", "success")

    def _save_failed(self, error: BaseException) -> None:
        """The boxes go back to what is saved; the message says why."""
        if self.loaded is not None:
            self.show_preferences(self.loaded)
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self.status.say(" ".join(["Nothing was saved.", *rest]), "error")
        else:
            self.status.say(not_saved(error), "error")
            self._session.runner.failed.emit(error, None)  # the message bar and the reconnect probe


class SettingsPage(QScrollArea):
    """Both sections in one scrolling column of readable width."""

    #: The main window refreshes the page when one of these tables changed (`ui.live`).
    watches = frozenset({"settings", "user_profiles"})

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget(self)
        column = QVBoxLayout(body)
        self.preferences = PreferencesBox(session, body)
        self.alerts = EmailAlertsBox(session, body)
        self.shop = ShopSettingsBox(session, body)
        column.addWidget(_title("Settings", body))
        column.addWidget(self.preferences)
        column.addWidget(self.alerts)
        column.addWidget(self.shop)
        column.addStretch(1)
        body.setMaximumWidth(body.fontMetrics().horizontalAdvance("M") * 44)
        outer = QWidget(self)
        row = QHBoxLayout(outer)
        row.addWidget(body, 1, Qt.AlignmentFlag.AlignTop)
        row.addStretch(0)
        self.setWidget(outer)
        self.setTabOrder(self.preferences.theme, self.preferences.refresh)
        self.setTabOrder(self.preferences.refresh, self.preferences.confirm_delete)
        self.setTabOrder(self.preferences.confirm_delete, self.shop.shop_name)

    def refresh(self) -> None:
        self.shop.reload()
        self.alerts.reload()

    def page_shown(self) -> None:
        self.shop.reload()
        self.alerts.reload()
