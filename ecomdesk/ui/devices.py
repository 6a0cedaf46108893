"""Remembered devices: the computers where someone ticked “Remember me”, and ending them.

Anyone sees and revokes their own; another person's need `sessions.manage`, and without it the view
never asks the service (the answer could only be a refusal). Revoking the sign-in this app runs on
is allowed, after a plain warning: the main window signs out at its next database call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

from PySide6.QtCore import QEvent, QLocale, QObject, QSize, Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ecomdesk.services.auth import DeviceSessionInfo
from ecomdesk.ui.errors import describe
from ecomdesk.ui.forms import StatusLine
from ecomdesk.ui.grid.format import datetime_text
from ecomdesk.ui.permissions import gate, why_not
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import Task
from ecomdesk.ui.widgets import ask, busy_bar, hint

COLUMNS: Final = ("Device", "Created", "Last used", "Expires")
THIS_COMPUTER: Final = " — this computer"
EMPTY_TEXT: Final = "No remembered devices. Computers where “Remember me” was ticked appear here."
NOT_ALLOWED_TEXT: Final = "Only administrators can see other people's devices."
SIGNED_OUT_NEXT: Final = "This computer will be signed out at its next step."
#: The raw value a column sorts by (a datetime, or the device name folded for case).
_SORT_ROLE: Final = Qt.ItemDataRole.UserRole
_DEVICE_ROLE: Final = Qt.ItemDataRole.UserRole + 1


class _DeviceItem(QTreeWidgetItem):
    """A row that sorts dates as dates: the shown text is in the person's locale, not sortable."""

    def __init__(self, device: DeviceSessionInfo, locale: QLocale) -> None:
        name = device.device_name + (THIS_COMPUTER if device.current else "")
        times = (device.created_at, device.last_used_at, device.expires_at)
        super().__init__([name, *(datetime_text(when, locale) for when in times)])
        self.device = device
        self.setData(0, _SORT_ROLE, device.device_name.casefold())
        self.setData(0, _DEVICE_ROLE, device.id)
        for column, when in enumerate(times, start=1):
            self.setData(column, _SORT_ROLE, when)
        if device.current:
            self.setToolTip(0, "The computer you are using now.")

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        tree = self.treeWidget()
        column = tree.sortColumn() if tree is not None else 0
        mine, theirs = self.data(column, _SORT_ROLE), other.data(column, _SORT_ROLE)
        if isinstance(mine, dt.datetime) and isinstance(theirs, dt.datetime):
            return mine < theirs
        if isinstance(mine, str) and isinstance(theirs, str):
            return mine < theirs
        return super().__lt__(other)


class DevicesView(QWidget):
    """One person's remembered devices with Revoke and “Sign out everywhere”.

    `user_id` None: the signed-in person's own. The users page calls `set_user` as its selection
    changes; a slow answer for an earlier selection is dropped.
    """

    #: A device (or all of them) was revoked.
    changed = Signal()

    def __init__(
        self, session: AppSession, user_id: int | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._user_id = user_id
        self._name = ""
        self._load_task: Task[list[DeviceSessionInfo]] | None = None
        self._load_failed = False
        self._working = False
        self.devices: list[DeviceSessionInfo] = []
        #: The open confirmation, if any (a window-modal box: nothing here blocks in `exec()`).
        self.confirmation: QMessageBox | None = None

        self.caption = hint("", self)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        self.tree.setAccessibleName("Remembered devices")
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.tree.viewport().installEventFilter(self)
        self.tree.itemSelectionChanged.connect(self._update_buttons)

        self.placeholder = hint("", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setAccessibleName("Remembered devices")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.tree)
        self.stack.addWidget(self.placeholder)

        self.busy = busy_bar(self)
        self.status = StatusLine(self)
        self.status.setAccessibleName("Remembered devices status")
        self.revoke_button = QPushButton("Revoke", self)
        self.revoke_button.setAccessibleName("Revoke the selected device")
        self.revoke_all_button = QPushButton("Sign out everywhere", self)
        self.revoke_all_button.setAccessibleName("Sign out on every remembered device")
        self.revoke_button.clicked.connect(self.revoke_selected)
        self.revoke_all_button.clicked.connect(self.revoke_all)
        buttons = QHBoxLayout()
        buttons.addWidget(self.revoke_button)
        buttons.addWidget(self.revoke_all_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._show_target()
        self.refresh()

    def sizeHint(self) -> QSize:
        """Wide enough for a device name and three dates in this locale, so a dialog opens with no
        column cut off; the minimum stays small, for a narrow side panel."""
        hint = super().sizeHint()
        bold = self.tree.font()
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        em = metrics.horizontalAdvance("M")
        latest = datetime_text(dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC), QLocale())
        date_column = metrics.horizontalAdvance(latest) + em
        scroll_bar = self.tree.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        width = 16 * em + 3 * date_column + scroll_bar + 2 * self.tree.frameWidth()
        return QSize(max(hint.width(), width), hint.height())

    # -- whose devices ----------------------------------------------------------------------

    @property
    def user_id(self) -> int:
        """Whose devices are shown."""
        return self._session.actor.user_id if self._user_id is None else self._user_id

    @property
    def own(self) -> bool:
        return self.user_id == self._session.actor.user_id

    @property
    def allowed(self) -> bool:
        """Whether the signed-in person may see (and revoke) these devices at all."""
        return self.own or self._session.actor.can("sessions.manage")

    @property
    def loading(self) -> bool:
        """Whether a list is on its way (for waiting on it, and for the users page's own busy look)."""
        return self._load_task is not None

    def set_user(self, user_id: int | None, name: str = "") -> None:
        """Show `user_id`'s devices (None: one's own); `name` is how the captions call them."""
        self._user_id = user_id
        self._name = name
        self._show_devices([])
        self.status.say("", "hint")
        self._show_target()
        self.refresh()

    def _show_target(self) -> None:
        actor = self._session.actor
        if not self.allowed:
            self.caption.hide()
            self.placeholder.setText(NOT_ALLOWED_TEXT)
            self.placeholder.setToolTip(why_not(actor, "sessions.manage") or "")
            self.stack.setCurrentWidget(self.placeholder)
            self.revoke_button.hide()
            self.revoke_all_button.hide()
            return
        if self.own:
            text = "Computers that stay signed in as you. Revoke any you no longer use or have lost."
        else:
            text = f"Computers that stay signed in as {self._name or 'this person'}."
        self.caption.setText(text)
        self.caption.show()
        self.placeholder.setToolTip("")
        self.revoke_button.show()
        self.revoke_all_button.show()
        self._update_buttons()

    # -- loading -----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Load the devices again (never for someone whose devices one may not see)."""
        if self._load_task is not None:
            self._load_task.cancel()
            self._load_task = None
        if not self.allowed:
            self.busy.hide()
            return
        services, actor, user_id = self._session.services, self._session.actor, self.user_id
        self.busy.show()
        self._load_task = self._session.runner.submit(
            lambda _control: services.auth.list_sessions(actor, user_id),
            on_done=self._loaded,
            on_error=self._load_error,
            key=f"devices.load.{id(self)}",
            owner=self,
            description="load the remembered devices",
        )

    def _loaded(self, devices: list[DeviceSessionInfo]) -> None:
        self._load_task = None
        self.busy.setVisible(self._working)
        if self._load_failed:
            self._load_failed = False
            self.status.say("", "hint")
        self._show_devices(devices)

    def _load_error(self, error: BaseException) -> None:
        self._load_task = None
        self.busy.setVisible(self._working)
        self._load_failed = True
        self.status.say(f"The devices could not be loaded. {describe(error).text}", "error")

    def _show_devices(self, devices: list[DeviceSessionInfo]) -> None:
        selected = self.selected_device()
        self.devices = list(devices)
        self.tree.setSortingEnabled(False)  # (else each added row is sorted in on its own)
        self.tree.clear()
        locale = QLocale()
        bold = self.tree.font()
        bold.setBold(True)
        for device in devices:
            item = _DeviceItem(device, locale)
            if device.current:
                for column in range(len(COLUMNS)):
                    item.setFont(column, bold)
            self.tree.addTopLevelItem(item)
            if selected is not None and device.id == selected.id:
                item.setSelected(True)
        self.tree.setSortingEnabled(True)
        self._fit_columns()
        if self.allowed:
            if devices:
                self.stack.setCurrentWidget(self.tree)
            else:
                self.placeholder.setText(EMPTY_TEXT)
                self.stack.setCurrentWidget(self.placeholder)
        self._update_buttons()

    def _fit_columns(self) -> None:
        """Dates as wide as they are; the device name gets the rest. In a narrow side panel the name
        keeps a readable width (elided) and the dates scroll, rather than the name pushing them out."""
        header = self.tree.header()
        for column in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        dates = sum(header.sectionSize(column) for column in range(1, len(COLUMNS)))
        wanted = max(self.tree.sizeHintForColumn(0), header.sectionSizeHint(0))
        least = min(wanted, 14 * self.fontMetrics().horizontalAdvance("M"))
        header.resizeSection(0, max(self.tree.viewport().width() - dates, least))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.tree.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        return super().eventFilter(watched, event)

    def selected_device(self) -> DeviceSessionInfo | None:
        items = self.tree.selectedItems()
        return items[0].device if items and isinstance(items[0], _DeviceItem) else None

    # -- revoking ----------------------------------------------------------------------------

    def revoke_selected(self) -> None:
        """End the selected device; this computer's own sign-in only after a warning."""
        device = self.selected_device()
        if device is None or not self._may_write(self.revoke_button):
            return
        services, actor = self._session.services, self._session.actor

        def revoke() -> None:
            self._run(
                lambda: services.auth.revoke_session(actor, device.id),
                lambda _none: self._revoked([device]),
                f"revoke the device “{device.device_name}”",
            )

        if device.current:
            self._confirm(
                "Sign out this computer?",
                f"You are revoking the sign-in of the computer you are using now. {SIGNED_OUT_NEXT} "
                "You will need your password to sign in again.",
                "Sign out this computer",
                revoke,
            )
        else:
            revoke()

    def revoke_all(self) -> None:
        """End every remembered device of the person shown (after a confirmation)."""
        if not self.devices or not self._may_write(self.revoke_all_button):
            return
        services, actor, user_id = self._session.services, self._session.actor, self.user_id
        devices = list(self.devices)
        here = any(device.current for device in devices)
        count = _devices_text(len(devices))
        if self.own:
            text = f"Sign out on every remembered computer ({count})? Each needs your password again."
        else:
            who = self._name or "this person"
            text = f"Sign {who} out on every remembered computer ({count})? Each needs their password again."
        if here:
            text += f" {SIGNED_OUT_NEXT}"

        def revoke() -> None:
            self._run(
                lambda: services.auth.revoke_user_sessions(actor, user_id),
                lambda _count: self._revoked(devices),
                "sign out on every remembered device",
            )

        if here or self._session.preferences.confirm_delete:
            self._confirm("Sign out everywhere?", text, "Sign out everywhere", revoke)
        else:
            revoke()

    def _run(self, work: Callable[[], object], done: Callable[[object], None], description: str) -> None:
        def finished(result: object) -> None:
            self._set_working(False)
            done(result)

        self._set_working(True)
        self._session.runner.submit(
            lambda _control: work(),
            on_done=finished,
            on_error=self._revoke_failed,
            owner=self,
            description=description,
        )

    def _revoked(self, devices: list[DeviceSessionInfo]) -> None:
        gone = {device.id for device in devices}
        if any(device.current for device in devices):
            # Any further call from this app is refused now: show what is known instead of asking.
            self._show_devices([device for device in self.devices if device.id not in gone])
            self.status.say(f"Revoked. {SIGNED_OUT_NEXT}", "success")
        else:
            what = f"“{devices[0].device_name}”" if len(devices) == 1 else _devices_text(len(devices))
            self.status.say(f"Signed out {what}.", "success")
            self.refresh()
        self.changed.emit()

    def _revoke_failed(self, error: BaseException) -> None:
        self._set_working(False)
        self.status.say(f"Nothing was revoked. {describe(error).text}", "error")
        self.refresh()

    def _confirm(self, title: str, text: str, action: str, then: Callable[[], None]) -> None:
        self.confirmation = ask(self, title, text, action, then, danger=True)
        box = self.confirmation
        box.finished.connect(lambda _result: self._confirmation_closed(box))

    def _confirmation_closed(self, box: QMessageBox) -> None:
        if self.confirmation is box:  # not a question asked in answer to this one
            self.confirmation = None

    # -- buttons -----------------------------------------------------------------------------

    def _set_working(self, working: bool) -> None:
        self._working = working
        self.busy.setVisible(working or self._load_task is not None)
        self._update_buttons()

    def _may_write(self, button: QPushButton) -> bool:
        """One's own devices need no right; another person's need `sessions.manage`; a read-only
        copy changes nothing. Disables `button` with the reason when not."""
        if self.own and not self._session.read_only:
            button.setEnabled(True)
            return True
        return gate(button, self._session.actor, "sessions.manage", read_only=self._session.read_only)

    def _update_buttons(self) -> None:
        self.revoke_button.setToolTip("Sign the selected computer out; it needs the password again.")
        self.revoke_all_button.setToolTip("Sign out every remembered computer of this person.")
        if not self.allowed:
            return
        for button, possible in (
            (self.revoke_button, self.selected_device() is not None),
            (self.revoke_all_button, bool(self.devices)),
        ):
            if self._may_write(button):
                button.setEnabled(possible and not self._working)


def _devices_text(count: int) -> str:
    return "1 device" if count == 1 else f"{count} devices"
