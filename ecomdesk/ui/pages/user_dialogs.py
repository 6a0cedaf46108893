"""The dialogs of the users page: create or edit an account, and the one showing of a temporary password.

The edit dialog checks each field as soon as the person leaves it (the service's own rules, without a
database round trip) and the server checks everything again on save. A failed save keeps the dialog
open with every input as typed and the messages next to the fields they are about. While an account
is open for editing, a change to it by someone else shows as a notice at once (`ui.row_watch`); the
input stays as typed, and a save is still refused rather than overwriting theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import Conflict, ValidationError
from ecomdesk.services.files import Upload
from ecomdesk.services.roles import RoleInfo
from ecomdesk.services.users import (
    NewAccount,
    UserFields,
    UserRecord,
    email_problem,
    normalise_email,
    validate_profile,
)
from ecomdesk.ui.avatar import Avatar, choose_image_file, read_image_file
from ecomdesk.ui.errors import describe, not_saved
from ecomdesk.ui.forms import Field, clear_errors, dialog_footer, grow_to_fit, show_errors
from ecomdesk.ui.row_watch import RowWatch
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.widgets import hint

ADDRESS_LINES = 3
CHANGED_UNDERNEATH: Final = (
    "Someone else changed this account since you opened it. Your edits are kept; saving will not "
    "overwrite theirs (Reload shows them)."
)
DELETED_UNDERNEATH: Final = "Someone else deleted this account since you opened it; saving is not possible."


def editable(record: UserRecord) -> tuple[object, ...]:
    """What this form edits: a change to these by someone else makes a save a conflict (the
    service's rule); a sign-in or a new picture meanwhile does not."""
    return (record.email, record.first_name, record.last_name, record.role_id, record.phone, record.address)


@dataclass(frozen=True)
class _Loaded:
    roles: list[RoleInfo]
    picture: bytes | None


class UserDialog(QDialog):
    """Create an account (`record` None) or edit one. `saved` carries a `NewAccount` after a create
    and the new `UserRecord` after an edit."""

    saved = Signal(object)

    def __init__(self, session: AppSession, record: UserRecord | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.record = record
        self.roles: list[RoleInfo] = []
        #: A picture chosen but not saved yet; `remove_picture`: the saved one is to go.
        self.picture: Upload | None = None
        self.remove_picture = False
        self._saved_picture: bytes | None = None
        #: The account's edited fields as this form last knew them saved (changes beyond are news;
        #: None: not known after a refused save, so the next read is taken quietly).
        self._known = editable(record) if record is not None else None
        #: The account was deleted while the form was open: nothing can be saved.
        self.gone = False
        self.setWindowTitle(f"Edit {record.full_name or record.email}" if record else "New user")
        self.setObjectName("userDialog")

        self.email = QLineEdit(self)
        self.email.setPlaceholderText("name@example.com")
        self.first_name = QLineEdit(self)
        self.last_name = QLineEdit(self)
        self.role = QComboBox(self)
        self.role.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.phone = QLineEdit(self)
        self.phone.setPlaceholderText("+49 30 1234567")
        self.address = QPlainTextEdit(self)
        self.address.setTabChangesFocus(True)
        self.address.setFixedHeight(self.address.fontMetrics().lineSpacing() * ADDRESS_LINES + 12)
        for editor, name in (
            (self.email, "Email"),
            (self.first_name, "First name"),
            (self.last_name, "Last name"),
            (self.role, "Role"),
            (self.phone, "Phone"),
            (self.address, "Address"),
        ):
            editor.setAccessibleName(name)

        self.avatar = Avatar(5.0, self)
        self.choose_button = QPushButton("Choose picture…", self)
        self.choose_button.clicked.connect(self._choose_picture)
        self.remove_button = QPushButton("Remove picture", self)
        self.remove_button.clicked.connect(self._remove_picture)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.choose_button)
        buttons_row.addWidget(self.remove_button)
        buttons_row.addStretch(1)
        picture_side = QVBoxLayout()
        picture_side.addStretch(1)
        picture_side.addLayout(buttons_row)
        picture_side.addWidget(hint("PNG, JPEG or WebP, up to 5 MB.", self))
        picture_side.addStretch(1)
        picture_row = QWidget(self)
        row = QHBoxLayout(picture_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.avatar, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(picture_side, 1)

        self.fields: dict[str, Field] = {
            "file": Field(picture_row, self),
            "email": Field(self.email, self),
            "first_name": Field(self.first_name, self),
            "last_name": Field(self.last_name, self),
            "role_id": Field(self.role, self),
            "phone": Field(self.phone, self),
            "address": Field(self.address, self),
        }
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for name, label in (
            ("file", "Picture"),
            ("email", "Email"),
            ("first_name", "First name"),
            ("last_name", "Last name"),
            ("role_id", "Role"),
            ("phone", "Phone"),
            ("address", "Address"),
        ):
            form.addRow(label, self.fields[name])
        if record is None:
            form.addRow("", hint("A temporary password is made for the new account and shown once.", self))

        footer = dialog_footer(self, self.save, save_text="Create account" if record is None else "Save")
        self.status, self.busy, self.buttons, self.save_button = (
            footer.status,
            footer.busy,
            footer.buttons,
            footer.save_button,
        )
        self.reload_button = self.buttons.addButton("Reload", QDialogButtonBox.ButtonRole.ResetRole)
        self.reload_button.setToolTip("Drop your changes and show the account as it is saved now.")
        self.reload_button.hide()
        self.reload_button.clicked.connect(self.reload)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        footer.add_to(layout)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 40)

        for edit, key in (
            (self.email, "email"),
            (self.first_name, "first_name"),
            (self.last_name, "last_name"),
            (self.phone, "phone"),
        ):
            edit.editingFinished.connect(lambda e=edit, k=key: self._check(e, k))
        #: Someone else's change to the account, noticed while the form is open (editing only).
        self.watch: RowWatch[UserRecord] | None = None
        if record is not None:
            self._fill(record)
            users, user_id = session.services.users, record.id
            self.watch = RowWatch(
                session,
                ("users", "user_profiles"),
                str(user_id),
                lambda: users.get_user(session.actor, user_id),
                self._reread,
                self,
            )
            self.finished.connect(self.watch.stop)
        self._show_picture()
        self._load()

    # -- loading -------------------------------------------------------------------------------

    def _load(self) -> None:
        """The roles to choose from and (when editing) the saved picture, off the GUI thread."""
        services, actor = self.session.services, self.session.actor
        user_id = self.record.id if self.record is not None else None

        def load(_control: object) -> _Loaded:
            roles = services.roles.list_roles(actor)
            picture = services.users.avatar(actor, user_id) if user_id is not None else None
            return _Loaded(roles, picture.data if picture is not None else None)

        self._set_busy(True)
        self.session.runner.submit(
            load,
            on_done=self._loaded,
            on_error=self._load_failed,
            key=f"users.dialog.load.{id(self)}",
            owner=self,
            description="load the roles",
        )

    def _loaded(self, loaded: _Loaded) -> None:
        self.roles = loaded.roles
        self._set_busy(False)
        self._saved_picture = loaded.picture
        current = self.record.role_id if self.record is not None else None
        self.role.clear()
        items = self.role.model()
        assert isinstance(items, QStandardItemModel)
        for info in loaded.roles:
            self.role.addItem(info.name, info.id)
            item = items.item(self.role.count() - 1)
            item.setToolTip(info.description)
            missing = sorted(info.permissions - self.session.actor.permissions)
            if missing and info.id != current:
                # The service would refuse: nobody hands out rights they don't hold themselves.
                item.setEnabled(False)
                item.setToolTip(
                    f"You cannot give this role: it includes rights you don't have ({', '.join(missing)})."
                )
        default = current if current is not None else self._default_role()
        self.role.setCurrentIndex(max(0, self.role.findData(default)))
        self._show_picture()

    def _default_role(self) -> int | None:
        """New accounts start with the fewest rights: the role with the fewest permissions."""
        choices = [info for info in self.roles if info.permissions <= self.session.actor.permissions]
        return min(choices, key=lambda info: len(info.permissions)).id if choices else None

    def _load_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self.status.say(describe(error).text, "error")

    def _reread(self, fresh: UserRecord | None) -> None:
        """The account as saved now (None: deleted). The input stays as typed; the notice offers
        Reload, which is what a save would offer too."""
        if fresh is None:
            if not self.gone:
                self.gone = True
                self.save_button.setEnabled(False)
                self.reload_button.hide()
                self.status.say(DELETED_UNDERNEATH, "error")
                grow_to_fit(self)
            return
        news = self._known is not None and editable(fresh) != self._known
        self._known = editable(fresh)
        if news:
            self.status.say(CHANGED_UNDERNEATH)
            self.reload_button.show()
            grow_to_fit(self)

    # -- values --------------------------------------------------------------------------------

    def _fill(self, record: UserRecord) -> None:
        self.email.setText(record.email)
        self.first_name.setText(record.first_name)
        self.last_name.setText(record.last_name)
        self.phone.setText(record.phone or "")
        self.address.setPlainText(record.address or "")
        index = self.role.findData(record.role_id)
        if index >= 0:
            self.role.setCurrentIndex(index)

    def values(self) -> UserFields:
        role_id = self.role.currentData()
        return UserFields(
            email=self.email.text(),
            first_name=self.first_name.text(),
            last_name=self.last_name.text(),
            role_id=int(role_id) if role_id is not None else 0,
            phone=self.phone.text() or None,
            address=self.address.toPlainText() or None,
        )

    def _check(self, edit: QLineEdit, key: str) -> None:
        """The service's own rule for one field, as soon as the person leaves a field they changed."""
        if not edit.isModified():
            return
        v = self.values()
        if key == "email":
            problem = email_problem(normalise_email(v.email))
        else:
            problem = validate_profile(v.first_name, v.last_name, v.phone, v.address).get(key)
        self.fields[key].set_error(problem)

    # -- picture -------------------------------------------------------------------------------

    def _choose_picture(self) -> None:
        path = choose_image_file(self)
        if path is not None:
            self.set_picture_file(path)

    def set_picture_file(self, path: Path) -> None:
        """Take `path` as the new picture (saved with the account); too big a file is refused here,
        before it is read, and anything not an image by the server when saving."""
        try:
            data = read_image_file(path)
        except ValidationError as exc:
            self.fields["file"].set_error(exc.fields.get("file", exc.message))
            return
        self.fields["file"].set_error(None)
        self.picture = Upload(data, path.name)
        self.remove_picture = False
        self._show_picture()

    def _remove_picture(self) -> None:
        self.picture = None
        self.remove_picture = self._saved_picture is not None
        self.fields["file"].set_error(None)
        self._show_picture()

    def _show_picture(self) -> None:
        name = f"{self.first_name.text()} {self.last_name.text()}".strip() or self.email.text()
        shown = self.picture.data if self.picture else (None if self.remove_picture else self._saved_picture)
        self.avatar.set_person(name, shown)
        self.remove_button.setEnabled(shown is not None)

    # -- saving --------------------------------------------------------------------------------

    def save(self) -> None:
        services, actor, record = self.session.services, self.session.actor, self.record
        fields, picture, remove = self.values(), self.picture, self.remove_picture
        clear_errors(self.fields)
        self.reload_button.hide()
        self.status.say("Saving…")
        self._set_busy(True)
        if self.watch is not None:
            self.watch.paused = True  # this form's own save is no news
        if record is None:
            self.session.runner.submit(
                lambda _control: services.users.create_user(actor, fields, picture=picture),
                on_done=self._saved,
                on_error=self._save_failed,
                owner=self,
                description="create a user",
            )
        else:
            self.session.runner.submit(
                lambda _control: services.users.update_user(
                    actor, record.id, fields, expected=record, picture=picture, remove_picture=remove
                ),
                on_done=self._saved,
                on_error=self._save_failed,
                owner=self,
                description=f"save {record.email}",
            )

    def _saved(self, result: NewAccount | UserRecord) -> None:
        self._set_busy(False)
        self.saved.emit(result)
        self.accept()

    def _save_failed(self, error: BaseException) -> None:
        """Nothing typed is lost: the messages go next to their fields, the rest into the status."""
        self._set_busy(False)
        if self.watch is not None:
            self.watch.paused = False
            if isinstance(error, Conflict):
                self._known = None  # the sentence below tells of their change: learn it quietly
                self.watch.check()
        if isinstance(error, ValidationError):
            rest = show_errors(self.fields, error)
            self.status.say(" ".join(["Nothing was saved: please check the marked fields.", *rest]), "error")
            return
        self.status.say(not_saved(error), "error")
        if isinstance(error, Conflict) and self.record is not None:
            self.reload_button.show()

    def reload(self) -> None:
        """Drop the edits and show the account as saved now (after someone else changed it)."""
        assert self.record is not None
        services, actor, user_id = self.session.services, self.session.actor, self.record.id
        self._set_busy(True)
        self.session.runner.submit(
            lambda _control: services.users.get_user(actor, user_id),
            on_done=self._reloaded,
            on_error=self._load_failed,
            owner=self,
            description="reload the user",
        )

    def _reloaded(self, record: UserRecord) -> None:
        self._set_busy(False)
        self.record = record
        self._known = editable(record)
        self._fill(record)
        clear_errors(self.fields)
        self.reload_button.hide()
        self.status.say("Reloaded: these are the saved values now.")

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.save_button.setEnabled(not busy and bool(self.roles) and not self.gone)


class TemporaryPasswordDialog(QDialog):
    """A new temporary password, shown this once, with a button to copy it."""

    def __init__(self, whom: str, password: str, *, new_account: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Temporary password")
        self.setObjectName("temporaryPasswordDialog")
        opening = (
            f"The account for {whom} was created." if new_account else f"The password of {whom} was reset."
        )
        intro = QLabel(
            f"{opening} Give them this temporary password in person or over a channel you trust. "
            "It is shown only now; they must choose their own at the next sign-in.",
            self,
        )
        intro.setWordWrap(True)
        self.password = QLineEdit(password, self)
        self.password.setReadOnly(True)
        self.password.setAccessibleName("Temporary password")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(self.font().pointSizeF() * 1.3)
        self.password.setFont(font)
        self.password.selectAll()
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        row.addWidget(self.password, 1)
        row.addWidget(self.copy_button)
        self.copied = hint("", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(self.copied)
        layout.addWidget(buttons)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 34)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.password.text())
        self.copied.setText("Copied. Paste it where it is needed, then clear your clipboard.")
