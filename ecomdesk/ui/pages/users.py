"""The users page: the staff accounts grid, the selected person's profile beside it, and the
administrator's actions on accounts — create, edit, (de)activate, unlock, reset password, delete.

Every action is a QAction (with its shortcut) shown as a button; what the signed-in user may not do
is disabled with a tooltip saying why. The service layer refuses regardless, and its refusals — the
guards around one's own account and the last administrator — are said in the page's status line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QLocale, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.errors import Unavailable
from ecomdesk.services.files import FileContent
from ecomdesk.services.tables import Kind
from ecomdesk.services.users import NewAccount, UserRecord
from ecomdesk.ui.avatar import Avatar
from ecomdesk.ui.details import DetailsPanel
from ecomdesk.ui.devices import DevicesView
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import StatusLine
from ecomdesk.ui.grid import GridView
from ecomdesk.ui.grid.format import display_text
from ecomdesk.ui.pages.user_dialogs import TemporaryPasswordDialog, UserDialog
from ecomdesk.ui.permissions import READ_ONLY, enable, why_not
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.widgets import action_buttons, ask, heading, page_action, remembered_splitter

SELF_RESET = "For your own account, use “Change password…” in your account menu."
SELF_DEACTIVATE = "You cannot deactivate your own account."
SELF_DELETE = "You cannot delete your own account."


class UserPanel(DetailsPanel):
    """The selected person: picture, names, contact, state, and their remembered devices."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__("Select a user to see their profile.", parent)
        self.session = session
        self.record: UserRecord | None = None
        self.setObjectName("userPanel")
        self.avatar = Avatar(6.0, self.details)
        self.name = self.title_label()
        self.email = QLabel(self.details)
        self.email.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state = self.state_label("userState")
        form = self.value_grid(
            (
                ("role", "Role"),
                ("phone", "Phone"),
                ("address", "Address"),
                ("last_login_at", "Last sign-in"),
                ("created_at", "Created"),
            )
        )
        self.devices_title = heading("Remembered devices", self.details, 1.1)
        self.devices = DevicesView(session, None, self.details)
        top = QHBoxLayout()
        top.addWidget(self.avatar, 0, Qt.AlignmentFlag.AlignTop)
        names = QVBoxLayout()
        names.addWidget(self.name)
        names.addWidget(self.email)
        names.addWidget(self.state)
        names.addStretch(1)
        top.addLayout(names, 1)
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.addLayout(top)
        details.addLayout(form)
        details.addSpacing(self.fontMetrics().height() // 2)
        details.addWidget(self.devices_title)
        details.addWidget(self.devices, 1)
        self.fit_width()
        self.show_user(None)

    def show_user(self, record: UserRecord | None) -> None:
        """Show `record` (None: nothing selected); its picture and devices load in the background
        only when the person (or their picture) changed."""
        previous, self.record = self.record, record
        self.show_details(record is not None)
        if record is None:
            return
        locale = QLocale()
        self.name.setText(record.full_name or record.email)
        self.email.setText(record.email)
        states = ["Active" if record.is_active else "Deactivated: cannot sign in"]
        if record.locked:
            states.append("Locked after failed sign-ins")
        if record.must_change_password:
            states.append("Must choose a new password")
        self.state.setText(" · ".join(states))
        for key, value in self.values.items():
            kind = Kind.DATETIME if key.endswith("_at") else Kind.TEXT
            value.setText(display_text(getattr(record, key), kind, locale) or "—")
        same_person = previous is not None and previous.id == record.id
        if previous is None or not same_person or previous.avatar_file_id != record.avatar_file_id:
            self.avatar.set_person(record.full_name or record.email)
            if record.avatar_file_id is not None:
                self._load_picture(record)
        if not same_person:
            self.devices.set_user(record.id, record.full_name or record.email)

    def _load_picture(self, record: UserRecord) -> None:
        services, actor, user_id = self.session.services, self.session.actor, record.id
        self.session.runner.submit(
            lambda _control: services.users.avatar(actor, user_id),
            on_done=lambda picture: self._picture_loaded(user_id, picture),
            on_error=lambda _error: None,  # the initials stay; the grid reports a lost connection
            key=f"users.picture.{id(self)}",
            owner=self,
            description="load a profile picture",
        )

    def _picture_loaded(self, user_id: int, picture: FileContent | None) -> None:
        if self.record is not None and self.record.id == user_id:
            self.avatar.set_person(
                self.record.full_name or self.record.email, picture.data if picture else None
            )


class UsersPage(QWidget):
    #: The main window refreshes the page when one of these tables changed (`ui.live`).
    watches = frozenset({"users", "user_profiles", "roles", "device_sessions"})

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("usersPage")
        actor = session.actor
        #: Why this user may not change accounts at all (None: they may).
        self.refusal = READ_ONLY if session.read_only else why_not(actor, "users.write")
        self.grid = GridView(session, session.services.users.table, parent=self)
        self.panel = UserPanel(session, self)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Users status")

        self.new_action = page_action(
            self, "&New user…", QKeySequence.StandardKey.New, tip="Create a staff account."
        )
        self.edit_action = page_action(self, "&Edit…", QKeySequence("F2"), tip="Change the selected account.")
        self.active_action = page_action(self, "&Deactivate")
        self.unlock_action = page_action(
            self, "&Unlock", tip="Clear the lock after too many failed sign-ins."
        )
        self.reset_action = page_action(
            self, "&Reset password…", tip="Give the selected user a temporary password."
        )
        self.delete_action = page_action(self, "&Delete…", tip="Delete the selected accounts.")
        self.new_action.triggered.connect(self.new_user)
        self.edit_action.triggered.connect(self.edit_user)
        self.active_action.triggered.connect(self.toggle_active)
        self.unlock_action.triggered.connect(self.unlock_user)
        self.reset_action.triggered.connect(self.reset_password)
        self.delete_action.triggered.connect(lambda: self.delete_users(self.grid.selected_records()))

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(heading("Users", self))
        bar.addSpacing(self.fontMetrics().horizontalAdvance("M") * 2)
        actions = (
            self.new_action,
            self.edit_action,
            self.active_action,
            self.unlock_action,
            self.reset_action,
            self.delete_action,
        )
        action_buttons(bar, actions, self)
        bar.addStretch(1)

        em = self.fontMetrics().horizontalAdvance("M")
        self.splitter = remembered_splitter(
            "users/splitter",
            Qt.Orientation.Horizontal,
            ((self.grid, 3), (self.panel, 1)),
            (em * 60, max(em * 26, self.panel.minimumWidth())),
            self,
        )

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.splitter, 1)

        self.grid.selection_changed.connect(self._selection_changed)
        self.grid.refreshed.connect(self._selection_changed)
        self.grid.activated.connect(self._activated)
        self.grid.delete_requested.connect(self.delete_users)
        self.grid.status_message.connect(lambda text: self.status.say(text))
        self.panel.devices.changed.connect(self.grid.refresh)
        self._update_actions()

    # -- what the main window calls --------------------------------------------------------

    def refresh(self) -> None:
        self.grid.refresh()
        self.panel.devices.refresh()

    def focus_search(self) -> None:
        self.grid.focus_search()

    # -- selection and the state of the actions -------------------------------------------

    @property
    def current(self) -> UserRecord | None:
        """The account the single-record actions work on."""
        record = self.grid.current_record()
        return record if isinstance(record, UserRecord) else None

    def _selection_changed(self) -> None:
        record = self.current
        if record is not None:
            fresh = self.grid.model.row_of(record.id)
            record = self.grid.model.record(fresh) if fresh is not None else record
        self.panel.show_user(record)
        self._update_actions()

    def _update_actions(self) -> None:
        record = self.current
        me = self.session.actor.user_id
        self.active_action.setText(
            "&Activate" if record is not None and not record.is_active else "&Deactivate"
        )
        enable(self.new_action, True, "Create a staff account.", self.refusal)
        enable(self.edit_action, record is not None, "Change the selected account.", self.refusal)
        if record is not None and record.id == me and record.is_active:
            enable(self.active_action, False, SELF_DEACTIVATE, self.refusal)
        else:
            tip = (
                "Let the selected user sign in again."
                if record is not None and not record.is_active
                else ("Stop the selected user from signing in; their remembered computers are signed out.")
            )
            enable(self.active_action, record is not None, tip, self.refusal)
        enable(
            self.unlock_action,
            record is not None and record.locked,
            "Clear the lock after too many failed sign-ins.",
            self.refusal,
        )
        if record is not None and record.id == me:
            enable(self.reset_action, False, SELF_RESET, self.refusal)
        else:
            enable(
                self.reset_action,
                record is not None,
                "Give the selected user a temporary password.",
                self.refusal,
            )
        selected = self.grid.selected_records(limit=1000)
        if any(r.id == me for r in selected):
            enable(self.delete_action, False, SELF_DELETE, self.refusal)
        else:
            enable(self.delete_action, bool(selected), "Delete the selected accounts.", self.refusal)

    # -- actions -------------------------------------------------------------------------------

    def _activated(self, record: Any) -> None:
        if self.edit_action.isEnabled() and isinstance(record, UserRecord):
            self.open_editor(record)

    def new_user(self) -> UserDialog | None:
        if not self.new_action.isEnabled():
            return None
        dialog = UserDialog(self.session, None, self)
        dialog.saved.connect(self._created)
        dialog.open()
        return dialog

    def edit_user(self) -> UserDialog | None:
        record = self.current
        if record is None or not self.edit_action.isEnabled():
            return None
        return self.open_editor(record)

    def open_editor(self, record: UserRecord) -> UserDialog:
        dialog = UserDialog(self.session, record, self)
        dialog.saved.connect(self._edited)
        dialog.open()
        return dialog

    def _created(self, account: NewAccount) -> None:
        self.status.say(f"Created the account of {account.user.full_name} <{account.user.email}>.", "success")
        self.grid.refresh()
        if account.temporary_password is not None:
            TemporaryPasswordDialog(
                account.user.full_name or account.user.email,
                account.temporary_password,
                new_account=True,
                parent=self,
            ).open()

    def _edited(self, record: UserRecord) -> None:
        self.status.say(f"Saved {record.full_name} <{record.email}>.", "success")
        self.panel.show_user(record)
        self.grid.refresh()

    def toggle_active(self) -> None:
        record = self.current
        if record is None or not self.active_action.isEnabled():
            return
        if record.is_active:
            ask(
                self,
                "Deactivate account",
                f"Deactivate {record.full_name} <{record.email}>? They cannot sign in until the account is "
                "activated again, and their remembered computers are signed out now.",
                "Deactivate",
                lambda: self._set_active(record, False),
                danger=True,
            )
        else:
            self._set_active(record, True)

    def _set_active(self, record: UserRecord, active: bool) -> None:
        services, actor = self.session.services, self.session.actor
        verb = "Activated" if active else "Deactivated"
        self._run(
            lambda: services.users.set_active(actor, record.id, active),
            f"{verb} {record.full_name} <{record.email}>.",
            f"{verb.lower()[:-1]} {record.email}",
        )

    def unlock_user(self) -> None:
        record = self.current
        if record is None or not self.unlock_action.isEnabled():
            return
        services, actor = self.session.services, self.session.actor
        self._run(
            lambda: services.users.unlock(actor, record.id),
            f"Unlocked {record.full_name} <{record.email}>: they can sign in again.",
            f"unlock {record.email}",
        )

    def reset_password(self) -> None:
        record = self.current
        if record is None or not self.reset_action.isEnabled():
            return
        ask(
            self,
            "Reset password",
            f"Give {record.full_name} <{record.email}> a new temporary password? Their current password "
            "stops working, their remembered computers are signed out, and they choose a new password at "
            "the next sign-in.",
            "Reset password",
            lambda: self._reset(record),
            danger=True,
        )

    def _reset(self, record: UserRecord) -> None:
        services, actor = self.session.services, self.session.actor
        name = record.full_name or record.email

        def done(password: str) -> None:
            self.status.say(f"Reset the password of {name} <{record.email}>.", "success")
            self.grid.refresh()
            TemporaryPasswordDialog(name, password, new_account=False, parent=self).open()

        self.session.runner.submit(
            lambda _control: services.users.reset_password(actor, record.id),
            on_done=done,
            on_error=self._failed,
            owner=self,
            description=f"reset the password of {record.email}",
        )

    def delete_users(self, records: list[Any]) -> None:
        users = [r for r in records if isinstance(r, UserRecord)]
        if not users:
            return
        if self.refusal is not None or not self.delete_action.isEnabled():
            self.status.say(self.refusal or self.delete_action.toolTip(), "error")
            return
        what = f"{users[0].full_name} <{users[0].email}>" if len(users) == 1 else f"{len(users)} users"
        if Preferences().confirm_delete:
            ask(
                self,
                "Delete",
                f"Delete {what}? Their account, profile and remembered computers go; the activity log keeps "
                "their email. This cannot be undone.",
                "Delete",
                lambda: self._delete(users, what),
                danger=True,
            )
        else:
            self._delete(users, what)

    def _delete(self, users: list[UserRecord], what: str) -> None:
        services, actor = self.session.services, self.session.actor

        def delete(_control: object) -> None:
            for user in users:
                services.users.delete_user(actor, user.id)

        self._run_task(delete, f"Deleted {what}.", f"delete {what}")

    def _run(self, call: Callable[[], object], done: str, description: str) -> None:
        self._run_task(lambda _control: call(), done, description)

    def _run_task(self, fn: Callable[[Any], object], done: str, description: str) -> None:
        self.status.say("Working…")
        self.session.runner.submit(
            fn,
            on_done=lambda _result: self._done(done),
            on_error=self._failed,
            owner=self,
            description=description,
        )

    def _done(self, text: str) -> None:
        self.status.say(text, "success")
        self.grid.refresh()

    def _failed(self, error: BaseException) -> None:
        """A refusal (a guard, a missing right, someone else's change) is said here; the grid is
        re-read, since part of a multi-row action may have gone through."""
        self.status.say(describe(error).text, "error")
        self.grid.refresh()
        if isinstance(error, Unavailable):
            self.session.runner.failed.emit(error, None)  # the message bar and the reconnect probe
