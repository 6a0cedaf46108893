"""The first window: choose the shop's database (a saved profile, or the local demo), and the dialog
that adds or edits a profile with a "Test connection" button.

Every test and connect runs `connect.check_connection` through the task runner: the window stays
responsive, and what comes back is the server's own reason with the fix ("no database “shop”…").
The demo server starts off the GUI thread too, with its progress in the status line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QCommandLinkButton,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.bootstrap import DemoDatabase, prepare_demo
from ecomdesk.config import SSL_MODES, ConnectionProfile, KeyringStatus, ProfileStore, SecretStoreUnavailable
from ecomdesk.connect import ConnectionCheck, Problem, check_connection
from ecomdesk.ui.errors import describe
from ecomdesk.ui.icons import themed_icon
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.snapshot_dialogs import choose_snapshot
from ecomdesk.ui.tasks import TaskControl, TaskRunner
from ecomdesk.ui.theme import is_theme_change, text_colour
from ecomdesk.ui.widgets import busy_bar, centre, error_label, heading, hint

DEMO_LABEL: Final = "Local demo database"
#: A staff machine's first run: what to ask the shop's DBA (or IT) for, in the profile's terms.
FIRST_RUN_TEXT: Final = (
    "<b>First time on this computer?</b> Ask the shop's database administrator (or IT) for:"
    "<ul style='margin-left: 0; -qt-list-indent: 1;'>"
    "<li>the server's <b>host</b> name and <b>port</b> (usually 5432)</li>"
    "<li>the <b>database</b> name</li>"
    "<li>a <b>user</b> name and <b>password</b> for you — a staff login, not the database's owner</li>"
    "<li>whether the server requires <b>SSL</b></li>"
    "</ul>"
    "Then choose <b>Add…</b> and enter them. The administrator's one-time steps are in ecomdesk's "
    "README, under “Setting up the shop's database”."
)


@dataclass(frozen=True)
class Target:
    """A database chosen to work on: where it is, and how the status bar names it."""

    url: str
    label: str
    demo: bool = False
    profile: str | None = None
    #: The embedded server this app started for the demo (stopped when the app quits).
    demo_database: DemoDatabase | None = None


def profile_label(profile: ConnectionProfile) -> str:
    port = "" if profile.port == 5432 else f":{profile.port}"
    return f"{profile.name} — {profile.host}{port}/{profile.database}"


def start_demo(control: TaskControl) -> DemoDatabase:
    """Start (or reuse) the embedded demo server; each step's text goes to the status line."""
    step = 0

    def say(text: str) -> None:
        nonlocal step
        step += 1
        # done == total: a "final" report, which the runner never coalesces away, so no step's
        # text is lost however quickly the next one follows.
        control.progress(step, step, text)

    return prepare_demo(progress=say)


class CheckResult(QLabel):
    """The outcome of a connection test: green when it worked, the reason and fix when not."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAccessibleName("Connection test result")
        self.check: ConnectionCheck | None = None
        self.hide()

    def show_check(self, check: ConnectionCheck) -> None:
        self.check = check
        text = check.text + (f"\n\nThe server said: {check.detail}" if check.detail else "")
        self._show(text, "success" if check.ok else "error")

    def show_text(self, text: str, kind: str = "hint") -> None:
        self.check = None
        self._show(text, kind)

    def _show(self, text: str, kind: str) -> None:
        self.setText(text)
        self._kind = kind
        if kind == "hint":
            self.setStyleSheet("")
            self.setObjectName("hint")
        else:
            colour = text_colour(self.palette(), "success" if kind == "success" else "error")
            self.setStyleSheet(f"color: {colour.name()};")
        self.setVisible(bool(text))


class ProfileDialog(QDialog):
    """Add or edit a connection profile; the password goes to the keyring, never to the file."""

    def __init__(
        self,
        runner: TaskRunner,
        keyring: KeyringStatus,
        profile: ConnectionProfile | None = None,
        *,
        saved_password: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit connection" if profile else "New connection")
        self._runner = runner
        self.original = profile
        self.keyring = keyring
        self._saved_password = saved_password
        profile = profile or ConnectionProfile(name="", user="")
        self.name = QLineEdit(profile.name, self)
        self.host = QLineEdit(profile.host, self)
        self.port = QSpinBox(self)
        self.port.setRange(1, 65535)
        self.port.setValue(profile.port)
        self.database = QLineEdit(profile.database, self)
        self.user = QLineEdit(profile.user, self)
        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        if saved_password is not None:
            self.password.setPlaceholderText("(saved — leave empty to keep it)")
        self.sslmode = QComboBox(self)
        self.sslmode.addItems(SSL_MODES)
        self.sslmode.setCurrentText(profile.sslmode)
        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, label, widget in (
            ("name", "Name", self.name),
            ("host", "Host", self.host),
            ("port", "Port", self.port),
            ("database", "Database", self.database),
            ("user", "User", self.user),
            ("password", "Password", self.password),
            ("sslmode", "SSL mode", self.sslmode),
        ):
            widget.setAccessibleName(label)
            form.addRow(label, widget)
            self.errors[key] = error_label(self)
            form.addRow("", self.errors[key])
        self.password_note = hint("", self)
        if not keyring.available:
            self.password_note.setText(
                f"{keyring.reason} The password is not saved: ecomdesk asks for it at each connection."
            )
            self.password.setPlaceholderText("(used for the test only)")
        else:
            self.password_note.setText("Kept in the system keyring, never in a file.")
        self.outcome = CheckResult(self)
        self.busy = busy_bar(self)
        self.test_button = QPushButton("Test connection", self)
        self.test_button.clicked.connect(self.test)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.addButton(self.test_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.password_note)
        layout.addWidget(self.outcome)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 32)

    def profile(self) -> ConnectionProfile:
        base = self.original or ConnectionProfile(name="")
        return ConnectionProfile(
            name=self.name.text().strip(),
            host=self.host.text().strip(),
            port=self.port.value(),
            database=self.database.text().strip(),
            user=self.user.text().strip(),
            sslmode=self.sslmode.currentText(),
            options=dict(base.options),
        )

    def typed_password(self) -> str | None:
        """The password typed here; None: keep the saved one (or none)."""
        return self.password.text() or None

    def _validate(self) -> bool:
        problems = self.profile().validate()
        for key, label in self.errors.items():
            label.setText(problems.get(key, ""))
            label.setVisible(key in problems)
        return not problems

    def _accept_if_valid(self) -> None:
        if self._validate():
            self.accept()

    def test(self) -> None:
        if not self._validate():
            return
        password = self.typed_password() or self._saved_password
        url = self.profile().url(password).render_as_string(hide_password=False)
        self.test_button.setEnabled(False)
        self.busy.show()
        self.outcome.show_text("Testing the connection…")
        self._runner.submit(
            lambda _control: check_connection(url),
            on_done=self._tested,
            on_error=self._test_failed,
            key=f"profile-test.{id(self)}",
            owner=self,
            description="test a connection",
        )

    def _tested(self, check: ConnectionCheck) -> None:
        self.busy.hide()
        self.test_button.setEnabled(True)
        self.outcome.show_check(check)
        self.adjustSize()  # room for the answer, however long the server's words

    def _test_failed(self, error: BaseException) -> None:
        self.busy.hide()
        self.test_button.setEnabled(True)
        self.outcome.show_text(describe(error).text, "error")
        self.adjustSize()


class ConnectionWindow(QWidget):
    """Saved profiles, the local demo, and a status line with the outcome of the last attempt."""

    connect_requested = Signal(object)  # Target
    #: "Open snapshot…": the snapshot file chosen (the shell opens it; no server needed).
    snapshot_requested = Signal(object)  # Path

    def __init__(
        self,
        runner: TaskRunner,
        profiles: ProfileStore,
        preferences: Preferences,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect — ecomdesk")
        self._runner = runner
        self.profiles = profiles
        self._preferences = preferences
        self.keyring = profiles.secrets.status()
        self._busy = False

        card = QFrame(self)
        card.setObjectName("card")
        title = heading("Connect to your shop", card)
        intro = hint("Choose the shop's database, or try ecomdesk on a local demo database.", card)
        self.list = QListWidget(card)
        self.list.setAccessibleName("Saved connections")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setUniformItemSizes(True)
        self.list.itemDoubleClicked.connect(lambda _item: self.connect_selected())
        self.list.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.first_run = QFrame(card)
        self.first_run.setObjectName("firstRun")
        self.first_run_text = QLabel(FIRST_RUN_TEXT, self.first_run)
        self.first_run_text.setTextFormat(Qt.TextFormat.RichText)
        self.first_run_text.setWordWrap(True)
        self.first_run_text.setAccessibleName("What to ask the database administrator for")
        QVBoxLayout(self.first_run).addWidget(self.first_run_text)
        self.add_button = QPushButton("Add…", card)
        self.edit_button = QPushButton("Edit…", card)
        self.remove_button = QPushButton("Remove", card)
        self.connect_button = QPushButton("Connect", card)
        self.connect_button.setDefault(True)
        for button, name in (
            (self.add_button, "Add a connection"),
            (self.edit_button, "Edit the selected connection"),
            (self.remove_button, "Remove the selected connection"),
            (self.connect_button, "Connect to the selected database"),
        ):
            button.setAccessibleName(name)
        self.add_button.clicked.connect(self.add_profile)
        self.edit_button.clicked.connect(self.edit_profile)
        self.remove_button.clicked.connect(self.remove_profile)
        self.connect_button.clicked.connect(self.connect_selected)

        self.password_row = QWidget(card)
        self.password = QLineEdit(self.password_row)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password for the selected connection")
        self.password.returnPressed.connect(self.connect_selected)
        self.password_label = QLabel("Password", self.password_row)
        self.password_label.setBuddy(self.password)
        row = QHBoxLayout(self.password_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.password_label)
        row.addWidget(self.password, 1)
        self.password_row.hide()

        self.demo_button = QCommandLinkButton(
            DEMO_LABEL,
            "A PostgreSQL server of ecomdesk's own on this computer, filled with sample data — "
            "for trying things out.",
            card,
        )
        self.demo_button.setAccessibleName("Start the local demo database")
        self.demo_button.clicked.connect(self.start_demo)
        self.snapshot_button = QCommandLinkButton(
            "Open snapshot…",
            "A read-only copy of the shop in a file, made with ecomdesk elsewhere — no server needed.",
            card,
        )
        self.snapshot_button.setAccessibleName("Open a snapshot file")
        self.snapshot_button.clicked.connect(self.choose_snapshot)

        self.outcome = CheckResult(card)
        self.busy = busy_bar(card)

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.connect_button)
        separator = QFrame(card)
        separator.setFrameShape(QFrame.Shape.HLine)
        separator.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(card)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.first_run)
        layout.addWidget(self.password_row)
        layout.addLayout(buttons)
        layout.addWidget(self.outcome)
        layout.addWidget(self.busy)
        layout.addWidget(separator)
        layout.addWidget(self.demo_button)
        layout.addWidget(self.snapshot_button)
        em = self.fontMetrics().horizontalAdvance("M")
        card.setFixedWidth(em * 42)
        self.list.setMinimumHeight(self.fontMetrics().height() * 7)
        centre(card, self)
        self.setTabOrder(self.list, self.password)
        self.setTabOrder(self.password, self.connect_button)
        self.setTabOrder(self.connect_button, self.add_button)
        self.setTabOrder(self.add_button, self.edit_button)
        self.setTabOrder(self.edit_button, self.remove_button)
        self.setTabOrder(self.remove_button, self.demo_button)
        self.setTabOrder(self.demo_button, self.snapshot_button)
        self.reload()

    # -- the list ------------------------------------------------------------------------------

    def reload(self, select: str | None = None) -> None:
        wanted = select or self._preferences.last_profile
        self.list.clear()
        for profile in self.profiles.list():
            item = QListWidgetItem(profile_label(profile))
            item.setData(Qt.ItemDataRole.UserRole, profile.name)
            item.setToolTip(f"{profile.user}@{profile.host}:{profile.port}/{profile.database}")
            self.list.addItem(item)
            if profile.name == wanted:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        # A first run (nothing saved yet) explains what to ask for; afterwards the intro line does.
        first_run = self.list.count() == 0
        self.first_run.setVisible(first_run)
        self.list.setVisible(not first_run)
        self.add_button.setDefault(first_run)
        self.connect_button.setDefault(not first_run)
        self._selection_changed()
        self._apply_icons()

    def selected(self) -> ConnectionProfile | None:
        item = self.list.currentItem()
        return self.profiles.get(str(item.data(Qt.ItemDataRole.UserRole))) if item else None

    def _update_buttons(self) -> None:
        chosen = self.selected() is not None
        for button in (self.edit_button, self.remove_button, self.connect_button):
            button.setEnabled(chosen and not self._busy)
        for widget in (self.add_button, self.demo_button, self.snapshot_button, self.list, self.password):
            widget.setEnabled(not self._busy)

    def _selection_changed(self) -> None:
        """Another profile: a password typed for the previous one is never sent to this one.
        Without a keyring nothing is saved, so the password is asked every time."""
        self.password.clear()
        ask = self.selected() is not None and not self.keyring.available
        self.password_row.setHidden(not ask)
        if ask:
            self.outcome.show_text("Enter the database password (it cannot be saved on this computer).")
        self._update_buttons()

    # -- profiles ------------------------------------------------------------------------------

    def add_profile(self) -> None:
        dialog = ProfileDialog(self._runner, self.keyring, parent=self)
        dialog.accepted.connect(lambda: self._save(dialog))
        dialog.open()

    def edit_profile(self) -> None:
        profile = self.selected()
        if profile is None:
            return
        saved = self.profiles.password(profile)
        dialog = ProfileDialog(self._runner, self.keyring, profile, saved_password=saved, parent=self)
        dialog.accepted.connect(lambda: self._save(dialog))
        dialog.open()

    def _save(self, dialog: ProfileDialog) -> None:
        profile, password, old = dialog.profile(), dialog.typed_password(), dialog.original
        if old is not None and old.name != profile.name and password is None:
            password = self.profiles.password(old)  # a renamed profile keeps its saved password
        try:
            self.profiles.save(profile, password if self.keyring.available else None)
        except (SecretStoreUnavailable, ValueError, OSError) as exc:
            self.outcome.show_text(f"The connection was not saved: {exc}", "error")
            return
        if old is not None and old.name != profile.name:
            self.profiles.delete(old.name)
        self.reload(select=profile.name)
        self.outcome.show_text(f"Saved “{profile.name}”.", "hint")

    def remove_profile(self) -> None:
        profile = self.selected()
        if profile is None:
            return
        if self._preferences.confirm_delete:
            answer = QMessageBox.question(
                self,
                "Remove connection",
                f"Remove the connection “{profile.name}”? Its saved password is forgotten too. "
                "The database itself is not touched.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.profiles.delete(profile.name)
        self.reload()

    # -- connecting ----------------------------------------------------------------------------

    def connect_selected(self) -> None:
        profile = self.selected()
        if profile is None or self._busy:
            return
        typed = self.password.text() if not self.password_row.isHidden() else ""
        password = typed or self.profiles.password(profile)
        url = profile.url(password).render_as_string(hide_password=False)
        target = Target(url, profile_label(profile), profile=profile.name)
        self._set_busy(True, f"Connecting to {profile.host}…")
        self._runner.submit(
            lambda _control: check_connection(url),
            on_done=lambda check: self._checked(target, check),
            on_error=self._failed,
            key="connect",
            owner=self,
            description="connect",
        )

    def _checked(self, target: Target, check: ConnectionCheck) -> None:
        self._set_busy(False)
        if check.ok:
            if target.profile:
                self._preferences.last_profile = target.profile
            self.outcome.show_check(check)
            self.connect_requested.emit(target)
            return
        self.outcome.show_check(check)
        if check.problem is Problem.WRONG_PASSWORD:  # (no saved password, or a wrong one): ask
            self.password_row.show()
            self.password.selectAll()
            self.password.setFocus()

    def start_demo(self) -> None:
        if self._busy:
            return
        self._set_busy(True, "Starting the local demo database…")
        self._runner.submit(
            start_demo,
            on_done=self._demo_ready,
            on_error=self._failed,
            on_progress=lambda _done, _total, text: self.outcome.show_text(text),
            key="demo",
            owner=self,
            description="start the demo database",
        )

    def _demo_ready(self, demo: DemoDatabase) -> None:
        self._set_busy(False)
        self.outcome.show_text("The demo database is ready.", "success")
        self.connect_requested.emit(Target(demo.url, DEMO_LABEL, demo=True, demo_database=demo))

    def _failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self.outcome.show_text(describe(error).text, "error")

    def choose_snapshot(self) -> Path | None:
        if self._busy:
            return None
        path = choose_snapshot(self, self._preferences)
        if path is not None:
            self.snapshot_requested.emit(path)
        return path

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Busy with something the shell runs for this window (a snapshot opening)."""
        self._set_busy(busy, text)

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            # Word-wrapped text (the first-run box, a long status line) does not make a top-level
            # window grow by itself: without this, the progress line squeezes the box and cuts it.
            needed = self.sizeHint().height()
            if self.isVisible() and self.height() < needed:
                self.resize(self.width(), needed)
        return handled

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.busy.setVisible(busy)
        if text:
            self.outcome.show_text(text)
        self._update_buttons()

    def _apply_icons(self) -> None:
        palette = self.palette()
        # The first-run box: set aside from the card like the sign-in window's demo box, in the
        # current theme's colours (re-applied when the theme changes).
        self.first_run.setStyleSheet(
            "QFrame#firstRun {"
            f" background: {palette.color(QPalette.ColorRole.AlternateBase).name()};"
            f" border: 1px solid {palette.color(QPalette.ColorRole.Mid).name()};"
            " border-radius: 0.4em; }"
        )
        self.demo_button.setIcon(themed_icon("demo", palette.color(QPalette.ColorRole.Link)))
        self.snapshot_button.setIcon(themed_icon("database", palette.color(QPalette.ColorRole.Link)))
        database = themed_icon(
            "database",
            palette.color(QPalette.ColorRole.Text),
            palette.color(QPalette.ColorRole.HighlightedText),
        )
        for row in range(self.list.count()):
            self.list.item(row).setIcon(database)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event):
            self._apply_icons()
