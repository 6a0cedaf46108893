"""The sign-in window, and the dialog for a password that must be changed before anything else.

Refusals (wrong password, a throttled or disabled account) are shown in the window itself, next to
the form, never in a modal box: the person reads them while typing again. The email stays, the
password is cleared. Signing in runs through the task runner; the form is disabled meanwhile.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.config import KeyringStatus
from ecomdesk.connect import DEMO_ACCOUNTS, DEMO_PASSWORD, sign_in
from ecomdesk.services.auth import SignIn
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import AuthenticationError, ValidationError
from ecomdesk.services.registry import Services
from ecomdesk.ui.errors import describe
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.widgets import busy_bar, centre, error_label, heading, hint

#: Width of the sign-in card, in widths of "M" of the window's font (so it scales with the font).
CARD_EMS: Final = 30


class DemoAccounts(QFrame):
    """The demo database's accounts: one click fills the form."""

    chosen = Signal(str, str)  # email, password

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("demoBox")
        layout = QVBoxLayout(self)
        title = QLabel("Demo accounts", self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        layout.addWidget(hint("Click one to fill in the form.", self))
        self.buttons: list[QPushButton] = []
        for email, role in DEMO_ACCOUNTS:
            button = QPushButton(f"{email}  ·  {role}", self)
            button.setFlat(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setStyleSheet("text-align: left; padding: 0.2em 0.4em;")
            button.setAccessibleName(f"Fill in the demo {role} account, {email}")
            button.clicked.connect(lambda _checked=False, e=email: self.chosen.emit(e, DEMO_PASSWORD))
            layout.addWidget(button)
            self.buttons.append(button)
        password = hint(f"Password: {DEMO_PASSWORD}", self)
        password.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(password)


class LoginWindow(QWidget):
    """Email, password, "Remember me"; the database it signs in to is named at the top.

    Until `attach` gives it a database (the demo server may still be starting, a remembered
    sign-in may still be checked) it shows what is going on instead of a usable form.
    """

    signed_in = Signal(object)  # SignIn
    switch_requested = Signal()

    def __init__(
        self, runner: TaskRunner, *, database_label: str, demo: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in — ecomdesk")
        self._runner = runner
        self._services: Services | None = None
        self._url = ""
        self._retry_left = 0
        self._retry_timer = QTimer(self)
        self._retry_timer.setInterval(1000)
        self._retry_timer.timeout.connect(self._count_down)

        card = QFrame(self)
        card.setObjectName("card")
        self.title = heading("Sign in", card)
        self.database = hint(f"to {database_label}", card)
        self.database.setAccessibleName("Database")
        self.email = QLineEdit(card)
        self.email.setPlaceholderText("name@shop.example")
        self.email.setAccessibleName("Email address")
        self.password = QLineEdit(card)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.remember = QCheckBox("Remember me on this computer", card)
        self.remember.setAccessibleName("Remember me on this computer")
        self.remember_reason = hint("", card)
        self.remember_reason.hide()
        self.error = error_label(card)
        self.error.setAccessibleName("Sign-in problem")
        self.status = hint("", card)
        self.status.setAccessibleName("Status")
        self.busy = busy_bar(card)
        self.sign_in_button = QPushButton("Sign in", card)
        self.sign_in_button.setDefault(True)
        self.sign_in_button.setAutoDefault(True)
        self.switch_button = QPushButton("Use another database…", card)
        self.switch_button.setFlat(True)
        self.switch_button.setObjectName("linkButton")
        self.switch_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.switch_button.setAccessibleName("Choose another database")
        self.demo_box = DemoAccounts(card)
        self.demo_box.setVisible(demo)
        self.demo_box.chosen.connect(self._fill)

        form = QFormLayout()
        form.addRow("Email", self.email)
        form.addRow("Password", self.password)
        form.addRow("", self.remember)
        buttons = QHBoxLayout()
        buttons.addWidget(self.switch_button)
        buttons.addStretch(1)
        buttons.addWidget(self.sign_in_button)
        layout = QVBoxLayout(card)
        layout.addWidget(self.title)
        layout.addWidget(self.database)
        layout.addSpacing(self.fontMetrics().height() // 2)
        layout.addLayout(form)
        layout.addWidget(self.remember_reason)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        layout.addWidget(self.busy)
        layout.addLayout(buttons)
        layout.addWidget(self.demo_box)
        card.setFixedWidth(self.fontMetrics().horizontalAdvance("M") * CARD_EMS)
        centre(card, self)

        self.setTabOrder(self.email, self.password)
        self.setTabOrder(self.password, self.remember)
        self.setTabOrder(self.remember, self.sign_in_button)
        self.setTabOrder(self.sign_in_button, self.switch_button)
        self.email.returnPressed.connect(self.password.setFocus)
        self.password.returnPressed.connect(self.submit)
        self.sign_in_button.clicked.connect(self.submit)
        self.switch_button.clicked.connect(self.switch_requested)
        self.set_keyring(None)
        self.set_busy("Opening the database…")

    # -- what the shell tells it ---------------------------------------------------------------

    def attach(self, services: Services, url: str) -> None:
        """The database to sign in to (ready once `set_ready` is called)."""
        self._services = services
        self._url = url

    def set_keyring(self, status: KeyringStatus | None) -> None:
        """Without a keyring, "Remember me" cannot work: disable it and say why beside it."""
        available = status is not None and status.available
        self.remember.setEnabled(available)
        if not available:
            self.remember.setChecked(False)
        reason = status.reason if status is not None and not status.available else ""
        self.remember_reason.setText(reason)
        self.remember_reason.setVisible(bool(reason))

    def set_busy(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.busy.show()
        for widget in (self.email, self.password, self.sign_in_button, self.demo_box):
            widget.setEnabled(False)

    def set_ready(self, notice: str = "") -> None:
        self.busy.hide()
        self.status.setText(notice)
        self.status.setVisible(bool(notice))
        ready = self._services is not None
        for widget in (self.email, self.password, self.demo_box):
            widget.setEnabled(ready)
        self.sign_in_button.setEnabled(ready and self._retry_left == 0)
        (self.password if self.email.text() else self.email).setFocus()

    def show_problem(self, text: str) -> None:
        """The database cannot be used from here: say why; only switching databases is left."""
        self._services = None
        self.busy.hide()
        self.status.hide()
        self.show_error(text)
        for widget in (self.email, self.password, self.sign_in_button, self.demo_box, self.remember):
            widget.setEnabled(False)
        self.switch_button.setFocus()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    # -- signing in ------------------------------------------------------------------------------

    def submit(self) -> None:
        services, url = self._services, self._url
        if services is None or not self.sign_in_button.isEnabled():
            return
        email, password = self.email.text().strip(), self.password.text()
        if not email or not password:
            self.show_error("Enter your email address and your password.")
            (self.email if not email else self.password).setFocus()
            return
        remember = self.remember.isChecked()
        self.show_error("")
        self.set_busy("Signing in…")
        self._runner.submit(
            lambda _control: sign_in(services, url, email, password, remember=remember),
            on_done=self._succeeded,
            on_error=self._failed,
            key="sign-in",
            owner=self,
            description="sign in",
        )

    def _succeeded(self, result: SignIn) -> None:
        self.password.clear()
        self.set_ready()
        self.signed_in.emit(result)

    def _failed(self, error: BaseException) -> None:
        self.password.clear()
        if isinstance(error, AuthenticationError):
            self.show_error(error.message)
            if error.retry_after:
                self._retry_left = max(1, round(error.retry_after))
                self._retry_timer.start()
                self._show_countdown()
        else:
            self.show_error(describe(error).text)
        self.set_ready()
        self.password.setFocus()

    def _count_down(self) -> None:
        self._retry_left = max(0, self._retry_left - 1)
        self._show_countdown()
        if self._retry_left == 0:
            self._retry_timer.stop()
            self.sign_in_button.setEnabled(self._services is not None and self.email.isEnabled())

    def _show_countdown(self) -> None:
        waiting = self._retry_left > 0
        self.sign_in_button.setText(f"Sign in ({self._retry_left} s)" if waiting else "Sign in")
        if waiting:
            self.sign_in_button.setEnabled(False)

    def _fill(self, email: str, password: str) -> None:
        self.email.setText(email)
        self.password.setText(password)
        self.sign_in_button.setFocus()


class ChangePasswordDialog(QDialog):
    """One's own new password; `forced`: shown before the main window after an administrator's
    reset (cancelling it signs out)."""

    def __init__(
        self,
        services: Services,
        actor: Actor,
        runner: TaskRunner,
        *,
        forced: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a new password" if forced else "Change password")
        self._services = services
        self.actor = actor
        self._runner = runner
        why = "Your password was reset by an administrator: choose your own before you continue. "
        intro = QLabel(
            (why if forced else "")
            + "Use at least 15 characters — a few unrelated words work well. Your other remembered "
            "computers will be signed out.",
            self,
        )
        intro.setWordWrap(True)
        self.current = QLineEdit(self)
        self.new = QLineEdit(self)
        self.repeat = QLineEdit(self)
        for edit, name in (
            (self.current, "Current password"),
            (self.new, "New password"),
            (self.repeat, "New password again"),
        ):
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setAccessibleName(name)
        self.errors = {name: error_label(self) for name in ("current_password", "new_password", "repeat")}
        self.problem = error_label(self)
        self.busy = busy_bar(self)
        form = QFormLayout()
        form.addRow("Current password", self.current)
        form.addRow("", self.errors["current_password"])
        form.addRow("New password", self.new)
        form.addRow("", self.errors["new_password"])
        form.addRow("Repeat it", self.repeat)
        form.addRow("", self.errors["repeat"])
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Change password")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 38)

    def submit(self) -> None:
        for label in (*self.errors.values(), self.problem):
            label.hide()
        if self.new.text() != self.repeat.text():
            self._field_error("repeat", "The two new passwords differ.")
            self.repeat.setFocus()
            return
        services, actor = self._services, self.actor
        current, new = self.current.text(), self.new.text()
        self.buttons.setEnabled(False)
        self.busy.show()
        self._runner.submit(
            lambda _control: services.auth.change_password(actor, current, new),
            on_done=self._changed,
            on_error=self._failed,
            owner=self,
            description="change password",
        )

    def _changed(self, _revoked: int) -> None:
        self.busy.hide()
        self.actor = replace(self.actor, must_change_password=False)
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self.busy.hide()
        self.buttons.setEnabled(True)
        if isinstance(error, ValidationError):
            for name, message in error.fields.items():
                self._field_error(name if name in self.errors else "new_password", message)
        else:
            self.problem.setText(describe(error).text)
            self.problem.show()

    def _field_error(self, name: str, message: str) -> None:
        self.errors[name].setText(message)
        self.errors[name].show()
