"""“My profile”: what every signed-in person may change about themself — names, phone, address and
picture — their password, and the computers that stay signed in as them.

No right is needed: the services let anyone edit their own profile. Email and role are shown but
belong to an administrator. A refused save keeps the dialog open with the input as typed and each
message next to its field; the picture is stored at once, and what is shown is what the service
stored (re-encoded), never the chosen file itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import Unavailable, ValidationError
from ecomdesk.services.files import FileContent
from ecomdesk.services.users import ProfileFields, UserRecord
from ecomdesk.ui.avatar import Avatar, choose_image_file, read_image_file
from ecomdesk.ui.devices import DevicesView
from ecomdesk.ui.errors import describe, not_saved
from ecomdesk.ui.forms import Field, StatusLine, clear_errors, show_errors
from ecomdesk.ui.login import ChangePasswordDialog
from ecomdesk.ui.permissions import READ_ONLY
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.widgets import busy_bar, error_label, heading, hint

MAX_NAME: Final = 100
MAX_PHONE: Final = 40
ADMIN_HINT: Final = "Only an administrator can change your email address and role."

#: Picture work run off the GUI thread: the stored account and the picture to show now.
_PictureWork = Callable[[], tuple[UserRecord, FileContent | None]]


class ProfileDialog(QDialog):
    """The signed-in person's own profile (tab “Profile”) and remembered devices (tab “Devices”)."""

    #: The profile was saved (the new `UserRecord`): the main window renames its user button.
    saved = Signal(object)
    #: The picture was replaced or removed (the new `UserRecord`).
    picture_changed = Signal(object)

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("My profile")
        self._session = session
        self.record: UserRecord | None = None
        self._saving = False
        self.password_dialog: ChangePasswordDialog | None = None
        em = self.fontMetrics().horizontalAdvance("M")

        self.tabs = QTabWidget(self)
        self.profile_tab = QWidget(self.tabs)
        self.form = QWidget(self.profile_tab)  # disabled while loading

        # The picture, beside the name and how to change it.
        self.avatar = Avatar(5.0, self.form)
        self.name_label = heading("", self.form, 1.3)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.change_picture_button = QPushButton("Change picture…", self.form)
        self.change_picture_button.setAccessibleName("Choose a new profile picture")
        self.change_picture_button.setToolTip("A PNG, JPEG or WebP image of at most 5 MB.")
        self.remove_picture_button = QPushButton("Remove picture", self.form)
        self.remove_picture_button.setAccessibleName("Remove the profile picture")
        self.picture_error = error_label(self.form)
        self.picture_error.setAccessibleName("Profile picture problem")
        self.change_picture_button.clicked.connect(self.change_picture)
        self.remove_picture_button.clicked.connect(self.remove_picture)
        picture_buttons = QHBoxLayout()
        picture_buttons.addWidget(self.change_picture_button)
        picture_buttons.addWidget(self.remove_picture_button)
        picture_buttons.addStretch(1)
        beside = QVBoxLayout()
        beside.addWidget(self.name_label)
        beside.addLayout(picture_buttons)
        beside.addWidget(self.picture_error)
        beside.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.avatar, 0, Qt.AlignmentFlag.AlignTop)
        top.addSpacing(em)
        top.addLayout(beside, 1)

        # What an administrator decides, then what the person edits.
        self.email_label = QLabel(self.form)
        self.role_label = QLabel(self.form)
        for label, name in ((self.email_label, "Email address"), (self.role_label, "Role")):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAccessibleName(name)
        self.admin_hint = hint(ADMIN_HINT, self.form)
        self.first_name = QLineEdit(self.form)
        self.last_name = QLineEdit(self.form)
        self.phone = QLineEdit(self.form)
        self.phone.setPlaceholderText("+49 30 1234567")
        self.address = QPlainTextEdit(self.form)
        self.address.setTabChangesFocus(True)
        self.address.setFixedHeight(self.fontMetrics().lineSpacing() * 4 + 2 * self.address.frameWidth() + 8)
        for edit, name, length in (
            (self.first_name, "First name", MAX_NAME),
            (self.last_name, "Last name", MAX_NAME),
            (self.phone, "Phone", MAX_PHONE),
        ):
            edit.setAccessibleName(name)
            edit.setMaxLength(length)
            edit.textChanged.connect(self._update_buttons)
        self.address.setAccessibleName("Address")
        self.address.textChanged.connect(self._update_buttons)
        self.fields: dict[str, Field] = {
            name: Field(editor, self.form)
            for name, editor in (
                ("first_name", self.first_name),
                ("last_name", self.last_name),
                ("phone", self.phone),
                ("address", self.address),
            )
        }
        # A grid rather than a QFormLayout: the form layout gives a word-wrapped message its one-line
        # height plus a spare line, so short messages floated in a gap (seen in the screenshots).
        form = QGridLayout()
        form.setColumnStretch(1, 1)
        line = self.first_name.sizeHint().height()
        rows: list[tuple[str, QWidget]] = [
            ("Email", self.email_label),
            ("Role", self.role_label),
            ("", self.admin_hint),
            ("First name", self.fields["first_name"]),
            ("Last name", self.fields["last_name"]),
            ("Phone", self.fields["phone"]),
            ("Address", self.fields["address"]),
        ]
        for row, (text, widget) in enumerate(rows):
            if text:
                label = QLabel(text, self.form)
                if isinstance(widget, Field):
                    label.setBuddy(widget.editor)
                    label.setMinimumHeight(line)  # level with the editor's text, above its message
                form.addWidget(label, row, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            form.addWidget(widget, row, 1)
        self.change_password_button = QPushButton("Change password…", self.form)
        self.change_password_button.setAccessibleName("Change my password")
        self.change_password_button.clicked.connect(self.change_password)
        password_row = QHBoxLayout()
        password_row.addWidget(self.change_password_button)
        password_row.addStretch(1)
        form_column = QVBoxLayout(self.form)
        form_column.setContentsMargins(0, 0, 0, 0)
        form_column.addLayout(top)
        form_column.addSpacing(em // 2)
        form_column.addLayout(form)
        form_column.addLayout(password_row)
        form_column.addStretch(1)
        tab_column = QVBoxLayout(self.profile_tab)
        tab_column.addWidget(self.form)

        self.devices = DevicesView(session, parent=self.tabs)
        devices_tab = QWidget(self.tabs)
        devices_column = QVBoxLayout(devices_tab)
        devices_column.addWidget(self.devices)
        self.tabs.addTab(self.profile_tab, "Profile")
        self.tabs.addTab(devices_tab, "Devices")

        self.busy = busy_bar(self)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Profile status")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setAccessibleName("Save my profile")
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(em * 40)

        self.setTabOrder(self.first_name, self.last_name)
        self.setTabOrder(self.last_name, self.phone)
        self.setTabOrder(self.phone, self.address)
        self.setTabOrder(self.address, self.change_password_button)
        if session.read_only:
            for edit in (self.first_name, self.last_name, self.phone):
                edit.setReadOnly(True)
            self.address.setReadOnly(True)
            self.status.say(READ_ONLY, "hint")
        self._update_buttons()
        self.load()

    # -- values ------------------------------------------------------------------------------

    def form_values(self) -> ProfileFields:
        return ProfileFields(
            self.first_name.text(), self.last_name.text(), self.phone.text(), self.address.toPlainText()
        )

    @property
    def dirty(self) -> bool:
        record = self.record
        if record is None:
            return False
        shown = (record.first_name, record.last_name, record.phone or "", record.address or "")
        values = self.form_values()
        return shown != (values.first_name, values.last_name, values.phone, values.address)

    @property
    def loaded(self) -> bool:
        return self.record is not None

    # -- loading and saving ----------------------------------------------------------------

    def load(self) -> None:
        """Fetch the account and its picture; the form waits, disabled, until both are here."""
        services, actor = self._session.services, self._session.actor
        self.form.setEnabled(False)
        self.busy.show()
        self._session.runner.submit(
            lambda _control: (
                services.users.get_user(actor, actor.user_id),
                services.users.avatar(actor, actor.user_id),
            ),
            on_done=self._loaded,
            on_error=self._load_failed,
            key=f"profile.load.{id(self)}",
            owner=self,
            description="load my profile",
        )

    def _loaded(self, result: tuple[UserRecord, FileContent | None]) -> None:
        record, picture = result
        self.busy.hide()
        self.record = record
        self.first_name.setText(record.first_name)
        self.last_name.setText(record.last_name)
        self.phone.setText(record.phone or "")
        self.address.setPlainText(record.address or "")
        self.email_label.setText(record.email)
        self.role_label.setText(record.role)
        self._show_person(record, picture)
        clear_errors(self.fields)
        self.form.setEnabled(True)
        self._update_buttons()
        self.first_name.setFocus()

    def _load_failed(self, error: BaseException) -> None:
        self.busy.hide()
        self.status.say(f"Your profile could not be loaded. {describe(error).text}", "error")
        self._note_connection(error)

    def save(self) -> None:
        """Save names, phone and address; on success the dialog closes, else it stays as typed."""
        if not self.loaded or self._session.read_only:
            return
        services, actor, fields = self._session.services, self._session.actor, self.form_values()
        clear_errors(self.fields)
        self._saving = True
        self._update_buttons()
        self.busy.show()
        self.status.say("Saving…", "hint")
        self._session.runner.submit(
            lambda _control: services.users.update_my_profile(actor, fields),
            on_done=self._saved,
            on_error=self._save_failed,
            key=f"profile.save.{id(self)}",
            owner=self,
            description="save my profile",
        )

    def _saved(self, record: UserRecord) -> None:
        self._saving = False
        self.busy.hide()
        self.record = record
        self.status.say("Saved.", "success")
        self.saved.emit(record)
        self.accept()

    def _save_failed(self, error: BaseException) -> None:
        """Keep what the person typed; say what is wrong next to each field."""
        self._saving = False
        self.busy.hide()
        self._update_buttons()
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self.tabs.setCurrentWidget(self.profile_tab)
            self.status.say(" ".join(["Nothing was saved: please check the marked fields.", *rest]), "error")
        else:
            self.status.say(not_saved(error), "error")
            self._note_connection(error)
        self._grow_to_fit()

    # -- picture ---------------------------------------------------------------------------

    def change_picture(self) -> None:
        path = choose_image_file(self)
        if path is not None:
            self.set_picture_file(path)

    def set_picture_file(self, path: Path) -> None:
        """Store the image at `path` as the picture. The file is read off the GUI thread (it may be on
        a slow share), and one over the limit is refused before a byte of it is read."""
        if not self.loaded or self._session.read_only:
            return
        services, actor = self._session.services, self._session.actor

        def store() -> tuple[UserRecord, FileContent | None]:
            data = read_image_file(path)
            record = services.users.set_avatar(actor, actor.user_id, data, path.name)
            return record, services.users.avatar(actor, actor.user_id)

        self._picture_work(store, "store my profile picture")

    def remove_picture(self) -> None:
        if not self.loaded or self._session.read_only:
            return
        services, actor = self._session.services, self._session.actor

        def remove() -> tuple[UserRecord, FileContent | None]:
            return services.users.remove_avatar(actor, actor.user_id), None

        self._picture_work(remove, "remove my profile picture")

    def _picture_work(self, work: _PictureWork, description: str) -> None:
        self.picture_error.hide()
        self._set_picture_busy(True)
        self._session.runner.submit(
            lambda _control: work(),
            on_done=self._picture_stored,
            on_error=self._picture_failed,
            key=f"profile.picture.{id(self)}",
            owner=self,
            description=description,
        )

    def _picture_stored(self, result: tuple[UserRecord, FileContent | None]) -> None:
        record, picture = result
        self._set_picture_busy(False)
        self.record = record  # only the picture changed: the form keeps whatever is being typed
        self._show_person(record, picture)
        self._update_buttons()
        self.picture_changed.emit(record)

    def _picture_failed(self, error: BaseException) -> None:
        """The refusal right under the picture; the picture stays as it was."""
        self._set_picture_busy(False)
        if isinstance(error, ValidationError) and "file" in error.fields:
            text = error.fields["file"]
        else:
            text = describe(error).text
            self._note_connection(error)
        self.picture_error.setText(text)
        self.picture_error.show()
        self._grow_to_fit()

    def _set_picture_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.change_picture_button.setEnabled(not busy)
        self.remove_picture_button.setEnabled(not busy)
        if not busy:
            self._update_buttons()

    def _show_person(self, record: UserRecord, picture: FileContent | None) -> None:
        self.name_label.setText(record.full_name or record.email)
        self.avatar.set_person(record.full_name or record.email, picture.data if picture else None)
        self.avatar.setAccessibleDescription("Your picture" if self.avatar.has_image else "No picture yet")

    # -- password --------------------------------------------------------------------------

    def change_password(self) -> None:
        """The existing password dialog; it signs out the other remembered computers, so the
        devices tab is reloaded afterwards."""
        session = self._session
        dialog = ChangePasswordDialog(
            session.services, session.actor, session.runner, forced=False, parent=self
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self._password_changed)
        dialog.finished.connect(self._password_dialog_closed)
        self.password_dialog = dialog
        dialog.open()

    def _password_changed(self) -> None:
        self.status.say(
            "Your password was changed; your other remembered computers were signed out.", "success"
        )
        self.devices.refresh()

    def _password_dialog_closed(self, _result: int) -> None:
        self.password_dialog = None

    # -- looks -----------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        read_only = self._session.read_only
        reason = READ_ONLY if read_only else ""
        for button in (
            self.save_button,
            self.change_picture_button,
            self.remove_picture_button,
            self.change_password_button,
        ):
            button.setToolTip(reason or button.toolTip())
        self.save_button.setEnabled(not read_only and not self._saving and self.dirty)
        self.change_picture_button.setEnabled(not read_only and self.loaded)
        self.remove_picture_button.setEnabled(not read_only and self.avatar.has_image)
        self.change_password_button.setEnabled(not read_only)

    def _grow_to_fit(self) -> None:
        """Make room for messages that just appeared. Qt sizes a shown window by its layout's
        minimum, which counts a word-wrapped message as one line: the lines below would overlap."""
        layout = self.layout()
        if layout is None:
            return
        layout.activate()
        if layout.hasHeightForWidth():
            needed = layout.totalHeightForWidth(self.width())
        else:
            needed = layout.totalSizeHint().height()
        if needed > self.height():
            self.resize(self.width(), needed)

    def _note_connection(self, error: BaseException) -> None:
        """Connection trouble also goes to the main window, which starts asking the database again."""
        if isinstance(error, Unavailable):
            self._session.runner.failed.emit(error, None)
