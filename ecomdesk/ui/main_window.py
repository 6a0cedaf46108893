"""The main window: the sidebar of pages the user may see, the message bar, and a status bar that
says whether the database answers, which database it is, who is signed in and how fresh the data is.

It owns this app's `ChangeWatcher` (`ui.live`), which polls for what others changed and doubles as
the probe while the server is away, and routes each batch of changes to the pages: a page declares
the tables it shows (`watches`), the visible one refreshes at once, a hidden one when next shown.
When the signed-in user's role or permissions change, the sidebar and pages are rebuilt for the new
rights (after any open dialog is closed). It also owns this app's `ReportRunner`, which generates
queued reports while the window is open. Everything that leaves the window (sign out, switch
connection, open or close a snapshot, quit) is a signal: the shell (`ui.app`) decides what comes next.

On a snapshot (`AppSession.snapshot`) there is no server to hear from: a banner says whose shop and
when, the status bar names the file, nothing polls and no report is generated, and "Sign out"
becomes "Close snapshot". The services refuse every write; the pages disable their write actions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Final

from PySide6.QtCore import QEvent, QLocale, QSize, Qt, QTime, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ecomdesk import __version__
from ecomdesk.logs import log_file
from ecomdesk.services.changes import ChangeBatch
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import AuthenticationError, Unavailable
from ecomdesk.services.settings import SystemSettings
from ecomdesk.services.users import UserRecord
from ecomdesk.ui.errors import Severity, UserMessage
from ecomdesk.ui.icons import themed_icon
from ecomdesk.ui.live import ChangeWatcher
from ecomdesk.ui.login import ChangePasswordDialog
from ecomdesk.ui.messages import MessageBar, open_folder
from ecomdesk.ui.pages import PageSpec, pages_for
from ecomdesk.ui.permissions import gate
from ecomdesk.ui.preferences import Preferences, ThemeMode
from ecomdesk.ui.profile import ProfileDialog
from ecomdesk.ui.report_runner import ReportRunner
from ecomdesk.ui.session import AppSession, ConnectionState
from ecomdesk.ui.snapshot_dialogs import (
    CreateSnapshotDialog,
    SnapshotBanner,
    SnapshotDetailsDialog,
    choose_snapshot,
)
from ecomdesk.ui.tasks import Task
from ecomdesk.ui.theme import Kind, is_theme_change, text_colour
from ecomdesk.ui.widgets import hint

#: How often a rebuild of the pages for new rights waits for an open dialog to close.
REBUILD_RETRY_MS: Final = 1000

_STATE_KIND: Final[dict[ConnectionState, Kind]] = {
    ConnectionState.CONNECTED: "success",
    ConnectionState.RECONNECTING: "warning",
    ConnectionState.OFFLINE: "error",
}


def local_time(when: dt.datetime) -> str:
    """A UTC time as the person's clock shows it, in their locale's short format."""
    local = when.astimezone()
    return QLocale().toString(QTime(local.hour, local.minute, local.second), QLocale.FormatType.ShortFormat)


class MainWindow(QMainWindow):
    sign_out_requested = Signal()
    #: The sign-in ended underneath the window (revoked device, deactivated account): the sentence why.
    signed_out_elsewhere = Signal(str)
    switch_connection_requested = Signal()
    #: File → Open snapshot… (or "Open it" after making one): the file chosen.
    open_snapshot_requested = Signal(object)  # Path
    #: File → Close snapshot: back to the connection window.
    close_snapshot_requested = Signal()
    quit_requested = Signal()

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.preferences: Preferences = session.preferences
        self.specs: list[PageSpec] = pages_for(session.actor)
        self.pages: dict[str, QWidget] = {}
        #: Built pages whose tables changed while they were hidden: refreshed when next shown.
        self._stale: set[str] = set()
        #: The rights the pages were built for (a change of them rebuilds the pages).
        self._built_for = (session.actor.role, session.actor.permissions)
        self._ended = False
        self._was_connected = session.state is ConnectionState.CONNECTED
        self.setObjectName("mainWindow")
        em = self.fontMetrics().horizontalAdvance("M")
        central = QWidget(self)
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self._build_sidebar(em))
        row.addWidget(self._build_content(em), 1)
        self.setCentralWidget(central)

        self._build_status_bar()
        self._build_menus()
        self._populate_pages()
        self._apply_icons()

        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(REBUILD_RETRY_MS)
        self._rebuild_timer.timeout.connect(self._rebuild_for_rights)

        self.navigation.currentRowChanged.connect(self._row_changed)
        session.runner.failed.connect(self._task_failed)
        session.runner.errored.connect(self._any_task_failed)
        session.runner.activity.connect(self._activity)
        session.state_changed.connect(self._state_changed)
        session.refreshed.connect(self._refreshed)
        session.shop_changed.connect(self._shop_changed)
        session.changes_seen.connect(self._changes_seen)
        session.actor_changed.connect(self._actor_changed)
        self.preferences.changed.connect(self._preference_changed)

        # While someone is signed in here, this app helps generate the shop's queued reports.
        self.report_runner = session.report_runner = ReportRunner(session, parent=self)
        self.report_runner.start()

        # What others change shows here by itself; the watcher is also the probe when the server goes.
        # (A snapshot never changes and has no server: nothing to watch.)
        self.watcher = ChangeWatcher(session, parent=self)

        self._restore_layout()
        self._state_changed(session.state)
        self.load_shop()
        if session.snapshot is None:
            self.watcher.start()

    # -- building ------------------------------------------------------------------------------

    def _build_sidebar(self, em: int) -> QWidget:
        """The shop's name, the database, and the pages this user may see."""
        self.navigation = QListWidget(self)
        self.navigation.setObjectName("navigation")
        self.navigation.setAccessibleName("Pages")
        self.navigation.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.shop_label = QLabel(self)
        self.shop_label.setObjectName("shopName")
        self.shop_label.setWordWrap(True)
        font = self.shop_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.shop_label.setFont(font)
        self.place_label = hint(self.session.database_label, self)
        self.place_label.setAccessibleName("Database")
        self._set_title(None)
        sidebar = QFrame(self)
        sidebar.setObjectName("sidebar")
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(0)
        header = QVBoxLayout()
        header.setContentsMargins(em, em, em, em // 2)
        header.addWidget(self.shop_label)
        header.addWidget(self.place_label)
        side.addLayout(header)
        side.addWidget(self.navigation, 1)
        self._sidebar = sidebar
        return sidebar

    def _build_content(self, em: int) -> QWidget:
        """The message bar over the page stack (one empty slot per page until it is first shown)."""
        self.messages = MessageBar(self)
        self.stack = QStackedWidget(self)
        self.stack.setAccessibleName("Page")
        content = QWidget(self)
        column = QVBoxLayout(content)
        column.setContentsMargins(em // 2, em // 2, em // 2, 0)
        self.banner: SnapshotBanner | None = None
        if self.session.snapshot is not None:
            self.banner = SnapshotBanner(self.session.snapshot, content)
            self.banner.details_requested.connect(self.show_snapshot_details)
            column.addWidget(self.banner)
        column.addWidget(self.messages)
        column.addWidget(self.stack, 1)
        return content

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(True)
        self.state_label = QLabel(self)
        self.state_label.setAccessibleName("Connection state")
        self.activity = QProgressBar(self)
        self.activity.setRange(0, 0)
        self.activity.setTextVisible(False)
        self.activity.setMaximumWidth(self.fontMetrics().horizontalAdvance("M") * 6)
        self.activity.setMaximumHeight(self.fontMetrics().height() // 2)
        self.activity.setAccessibleName("Working")
        self.activity.hide()
        actor = self.session.actor
        snapshot = self.session.snapshot
        self.database_label = QLabel(self.session.database_label, self)
        self.database_label.setAccessibleName("Database")
        if snapshot is not None:
            self.database_label.setText(f"Snapshot · {snapshot.path.name}")
            self.database_label.setToolTip(str(snapshot.path))
        self.user_label = QLabel(f"{actor.display_name or actor.email} · {actor.role}", self)
        self.user_label.setAccessibleName("Signed-in user and role")
        self.refreshed_label = QLabel("", self)
        self.refreshed_label.setAccessibleName("Last refreshed")
        bar.addWidget(self.state_label)
        bar.addWidget(self.activity)
        for label in (self.database_label, self.user_label, self.refreshed_label):
            label.setObjectName("statusField")
            bar.addPermanentWidget(label)
        self.refreshed_label.setVisible(snapshot is None)  # a snapshot is never "up to date"

    def _build_menus(self) -> None:
        menus = self.menuBar()
        on_snapshot = self.session.snapshot is not None
        file = menus.addMenu("&File")
        self.open_snapshot_action = file.addAction("&Open snapshot…")
        self.open_snapshot_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_snapshot_action.setToolTip("Open a snapshot file: the shop read-only, with no server.")
        self.open_snapshot_action.triggered.connect(self.choose_snapshot)
        self.create_snapshot_action = file.addAction("&Create snapshot…")
        self.create_snapshot_action.triggered.connect(self.create_snapshot)
        if on_snapshot:
            self.create_snapshot_action.setEnabled(False)
            self.create_snapshot_action.setVisible(False)
        else:
            gate(self.create_snapshot_action, self.session.actor, "snapshot.create")
        file.addSeparator()
        self.switch_action = file.addAction("S&witch connection…")
        self.switch_action.triggered.connect(self.switch_connection_requested)
        self.sign_out_action = file.addAction("Sign &out")
        self.sign_out_action.triggered.connect(self.sign_out_requested)
        self.close_snapshot_action = file.addAction("&Close snapshot")
        self.close_snapshot_action.triggered.connect(self.close_snapshot_requested)
        self.sign_out_action.setVisible(not on_snapshot)
        self.sign_out_action.setEnabled(not on_snapshot)
        self.close_snapshot_action.setVisible(on_snapshot)
        self.close_snapshot_action.setEnabled(on_snapshot)
        file.addSeparator()
        self.quit_action = file.addAction("&Quit")
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.quit_requested)

        self.view_menu = view = menus.addMenu("&View")
        self.page_actions: dict[str, QAction] = {}
        self._page_group = QActionGroup(self)
        self._pages_end = view.addSeparator()
        self.refresh_action = view.addAction("&Refresh")
        self.refresh_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        self.refresh_action.triggered.connect(self.refresh)
        self.find_action = view.addAction("&Find")
        self.find_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))
        self.find_action.triggered.connect(self.focus_search)
        view.addSeparator()
        theme_menu = view.addMenu("&Theme")
        themes = QActionGroup(self)
        self.theme_actions: dict[ThemeMode, QAction] = {}
        for mode in ThemeMode:
            action = theme_menu.addAction(mode.label)
            action.setCheckable(True)
            action.setChecked(mode is self.preferences.theme)
            action.triggered.connect(lambda _checked=False, m=mode: self.session.theme.set_mode(m))
            themes.addAction(action)
            self.theme_actions[mode] = action

        help_menu = menus.addMenu("&Help")
        help_menu.addAction("Open &log folder").triggered.connect(lambda: open_folder(log_file().parent))
        about = help_menu.addAction("&About ecomdesk")
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self._about)

        actor = self.session.actor
        self.user_button = QToolButton(self)
        self.user_button.setObjectName("userButton")
        self.user_button.setAutoRaise(True)
        self.user_button.setText(f"{actor.display_name or actor.email} ({actor.role})")
        self.user_button.setAccessibleName("Account menu")
        self.user_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.user_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        account = QMenu(self.user_button)
        who = account.addAction(
            f"Snapshot taken by {actor.email}" if on_snapshot else f"Signed in as {actor.email}"
        )
        who.setEnabled(False)
        account.addSeparator()
        self.profile_action = account.addAction("My &profile and devices…")
        self.profile_action.triggered.connect(self.open_profile)
        self.password_action = QAction("Change password…", self)
        self.password_action.triggered.connect(self._change_password)
        if on_snapshot:  # no password is in a snapshot, and nobody signed in
            self.password_action.setEnabled(False)
            account.addAction(self.close_snapshot_action)
        else:
            account.addAction(self.password_action)
            account.addAction(self.sign_out_action)
        self.user_button.setMenu(account)
        menus.setCornerWidget(self.user_button, Qt.Corner.TopRightCorner)

    def _apply_icons(self) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        selected = palette.color(QPalette.ColorRole.HighlightedText)
        size = round(self.fontMetrics().height() * 1.25)
        self.navigation.setIconSize(QSize(size, size))
        for row, spec in enumerate(self.specs):
            self.navigation.item(row).setIcon(themed_icon(spec.icon, text, selected))
        self.user_button.setIcon(themed_icon("user", text))
        self._paint_state(self.session.state)

    # -- pages ---------------------------------------------------------------------------------

    def _populate_pages(self) -> None:
        """The sidebar entries, page slots and View-menu entries of `specs` (pages build lazily)."""
        em = self.fontMetrics().horizontalAdvance("M")
        self.navigation.blockSignals(True)
        self.navigation.clear()
        self.navigation.blockSignals(False)
        while (old := self.stack.widget(0)) is not None:
            self.stack.removeWidget(old)
            old.deleteLater()
        self.pages.clear()
        self._stale.clear()
        for action in self.page_actions.values():
            self._page_group.removeAction(action)
            self.view_menu.removeAction(action)
            action.deleteLater()
        self.page_actions.clear()
        for index, spec in enumerate(self.specs):
            item = QListWidgetItem(spec.title)
            item.setData(Qt.ItemDataRole.UserRole, spec.key)
            item.setToolTip(spec.summary)
            self.navigation.blockSignals(True)
            self.navigation.addItem(item)
            self.navigation.blockSignals(False)
            self.stack.addWidget(QWidget(self.stack))
            action = QAction(spec.title, self)
            action.setCheckable(True)
            if index < 9:
                action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda _checked=False, key=spec.key: self.show_page(key))
            self._page_group.addAction(action)
            self.view_menu.insertAction(self._pages_end, action)
            self.page_actions[spec.key] = action
        widest = max((self.fontMetrics().horizontalAdvance(s.title) for s in self.specs), default=em * 8)
        self._sidebar.setFixedWidth(max(widest + em * 13 // 2, em * 13))

    @property
    def current_key(self) -> str | None:
        row = self.navigation.currentRow()
        return self.specs[row].key if 0 <= row < len(self.specs) else None

    @property
    def current_page(self) -> QWidget | None:
        key = self.current_key
        return self.pages.get(key) if key else None

    def page_keys(self) -> list[str]:
        return [spec.key for spec in self.specs]

    def show_page(self, key: str) -> None:
        """Switch to page `key` (ignored when the user may not see it)."""
        keys = self.page_keys()
        if key in keys:
            self.navigation.setCurrentRow(keys.index(key))

    def _row_changed(self, row: int) -> None:
        if not 0 <= row < len(self.specs):
            return
        spec = self.specs[row]
        page = self.pages.get(spec.key)
        if page is None:
            page = self._build_page(spec, row)
        self.stack.setCurrentWidget(page)
        self.page_actions[spec.key].setChecked(True)
        self.preferences.last_page = spec.key
        shown = getattr(page, "page_shown", None)
        if callable(shown):
            shown()
        if spec.key in self._stale:
            self._stale.discard(spec.key)
            self._refresh_page(page)

    def _build_page(self, spec: PageSpec, row: int) -> QWidget:
        """Pages are built on first visit: start-up costs nothing for pages never opened."""
        blank = self.stack.widget(row)
        assert blank is not None
        try:
            page = spec.factory(self.session)
        except Exception as exc:  # a broken page must not take the window down; describe() logs it
            self.messages.show_error(exc)
            page = QLabel(f"The {spec.title} page could not be opened.", self.stack)
            page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        page.setObjectName(page.objectName() or f"page-{spec.key}")
        self.stack.removeWidget(blank)
        blank.deleteLater()
        self.stack.insertWidget(row, page)
        self.pages[spec.key] = page
        return page

    def refresh(self) -> None:
        """F5: the page's own refresh, or (for a page without one) the shop's settings."""
        refresh = getattr(self.current_page, "refresh", None)
        if callable(refresh):
            refresh()
        else:
            self.load_shop()

    def focus_search(self) -> None:
        focus = getattr(self.current_page, "focus_search", None)
        if callable(focus):
            focus()

    @staticmethod
    def _refresh_page(page: QWidget) -> None:
        refresh = getattr(page, "refresh", None)
        if callable(refresh):
            refresh()

    # -- live updates --------------------------------------------------------------------------

    def _changes_seen(self, batch: ChangeBatch) -> None:
        """Each built page whose tables changed refreshes — now if it is the one shown, else when
        next shown; a page may also look at the changes itself (`changes_seen`)."""
        current = self.current_page
        for key, page in self.pages.items():
            hook = getattr(page, "changes_seen", None)
            if callable(hook):
                hook(batch)
            watches = getattr(page, "watches", None)
            if not watches or not batch.touches(watches):
                continue
            if page is current and self.isVisible():
                self._refresh_page(page)
            else:
                self._stale.add(key)
        if "settings" in batch.tables:
            self.load_shop()
        if not batch.complete or any(c.table == "reports" and c.op == "insert" for c in batch.changes):
            self.report_runner.kick()  # someone asked for a report: help generate it

    def _actor_changed(self, actor: Actor) -> None:
        """The signed-in user changed in the database: their name at once; new rights rebuild the
        pages (every action was enabled for the old ones)."""
        self.user_button.setText(f"{actor.display_name or actor.email} ({actor.role})")
        self.user_label.setText(f"{actor.display_name or actor.email} · {actor.role}")
        if (actor.role, actor.permissions) != self._built_for:
            self._rebuild_for_rights()

    def _rebuild_for_rights(self) -> None:
        """Rebuild the sidebar and pages for the user's current rights, keeping the page shown
        when they may still see it. An open dialog is never destroyed under someone's hands: the
        rebuild waits until it is closed."""
        actor = self.session.actor
        if (actor.role, actor.permissions) == self._built_for:
            return
        if QApplication.activeModalWidget() is not None:
            self._rebuild_timer.start()
            return
        self._built_for = (actor.role, actor.permissions)
        current = self.current_key
        self.specs = pages_for(actor)
        self._populate_pages()
        self._apply_icons()
        keys = self.page_keys()
        self.navigation.setCurrentRow(keys.index(current) if current in keys else 0)
        self.messages.show_message(
            UserMessage(
                "Your rights changed",
                f"An administrator changed what your role ({actor.role}) may do; the pages now "
                "show what you may see and do.",
                Severity.INFO,
            )
        )

    # -- shop, state, freshness ----------------------------------------------------------------

    def load_shop(self) -> None:
        self.session.load_shop()

    def _shop_changed(self, shop: SystemSettings) -> None:
        self._set_title(shop.shop_name)

    def _set_title(self, shop_name: str | None) -> None:
        snapshot = self.session.snapshot
        if snapshot is not None:
            shop = shop_name or snapshot.info.shop_name
            self.setWindowTitle(f"Snapshot of {shop} ({snapshot.path.name}, read-only) — ecomdesk")
            self.shop_label.setText(shop)
            return
        # Titles end with the app's display name, so Qt does not append it a second time.
        demo = " (demo)" if self.session.demo else ""
        self.setWindowTitle(f"{shop_name or 'Shop'}{demo} — ecomdesk" if shop_name or demo else "ecomdesk")
        self.shop_label.setText(shop_name or "ecomdesk")

    def _refreshed(self, when: dt.datetime) -> None:
        """The last time the database confirmed that what is shown is current."""
        if self.session.snapshot is not None:
            return  # a snapshot shows one past moment, never "now"
        self.refreshed_label.setText(f"Up to date at {local_time(when)}")
        self.refreshed_label.setToolTip(
            "The last time the database confirmed there was nothing new to show. Changes by others "
            f"appear by themselves; the database is asked every {self.watcher.interval_ms // 1000} s."
            if hasattr(self, "watcher")
            else ""
        )

    def _activity(self, running: int) -> None:
        self.activity.setVisible(running > 0)

    def _state_changed(self, state: ConnectionState) -> None:
        self._paint_state(state)
        connected = state is ConnectionState.CONNECTED
        if connected and not self._was_connected:
            self.messages.show_message(
                UserMessage("Connected again", "The database answers again.", Severity.INFO)
            )
        self._was_connected = connected

    def _paint_state(self, state: ConnectionState) -> None:
        if self.session.snapshot is not None:
            colour = text_colour(self.palette(), "warning")
            self.state_label.setText(f"<span style='color:{colour.name()}'>●</span> Snapshot")
            self.state_label.setToolTip(
                "A read-only copy of the shop in a file: no server is asked, and nothing can be changed."
            )
            return
        colour = text_colour(self.palette(), _STATE_KIND[state])
        self.state_label.setText(f"<span style='color:{colour.name()}'>●</span> {state.value}")
        self.state_label.setToolTip(
            {
                ConnectionState.CONNECTED: "The database answers.",
                ConnectionState.RECONNECTING: "The database stopped answering; asking again every few "
                "seconds. Your windows and unsaved input stay as they are.",
                ConnectionState.OFFLINE: "The database has not answered for a while; still trying, less "
                "often. Your windows and unsaved input stay as they are.",
            }[state]
        )

    def _task_failed(self, error: BaseException, _task: Task[object] | None) -> None:
        """Failures no page handled: one message."""
        self.messages.show_error(error)

    def _any_task_failed(self, error: BaseException) -> None:
        """Every failure, handled by a page or not: connection trouble starts the probe (a dialog
        that says "nothing was saved" inline needs the status bar to follow too); a call refused
        because this sign-in ended closes the window, and the sign-in window says why (once,
        however many calls were in flight)."""
        if self.session.snapshot is not None:
            return  # no server to probe, no sign-in to end
        if isinstance(error, Unavailable) and self.session.state is ConnectionState.CONNECTED:
            self.session.set_state(ConnectionState.RECONNECTING)
        if isinstance(error, AuthenticationError) and not self._ended:
            self._ended = True
            self.watcher.stop()
            self.report_runner.stop()
            self.signed_out_elsewhere.emit(error.message)

    def _preference_changed(self, key: str) -> None:
        if key == Preferences.REFRESH:
            self.watcher.reschedule()
        elif key == Preferences.THEME:
            self.theme_actions[self.preferences.theme].setChecked(True)

    # -- dialogs -------------------------------------------------------------------------------

    def open_profile(self) -> ProfileDialog:
        """Every user's own names, phone, address, picture and remembered devices."""
        dialog = ProfileDialog(self.session, self)
        dialog.saved.connect(self._profile_saved)
        dialog.open()
        return dialog

    def choose_snapshot(self) -> Path | None:
        """File → Open snapshot…: the file chosen goes to the shell, which opens it."""
        path = choose_snapshot(self, self.preferences)
        if path is not None:
            self.open_snapshot_requested.emit(path)
        return path

    def create_snapshot(self) -> CreateSnapshotDialog | None:
        """File → Create snapshot… (with `snapshot.create`, never on a snapshot)."""
        if not self.create_snapshot_action.isEnabled():
            return None
        dialog = CreateSnapshotDialog(self.session, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open_requested.connect(self.open_snapshot_requested)
        dialog.open()
        return dialog

    def show_snapshot_details(self) -> SnapshotDetailsDialog | None:
        snapshot = self.session.snapshot
        if snapshot is None:
            return None
        dialog = SnapshotDetailsDialog(snapshot, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _profile_saved(self, record: UserRecord) -> None:
        self.session.set_actor(replace(self.session.actor, display_name=record.full_name))
        self.messages.show_message(UserMessage("Profile saved", "Your profile was saved.", Severity.INFO))

    def _change_password(self) -> None:
        dialog = ChangePasswordDialog(
            self.session.services, self.session.actor, self.session.runner, forced=False, parent=self
        )
        dialog.accepted.connect(
            lambda: self.messages.show_message(
                UserMessage(
                    "Password changed",
                    "Your password was changed; your other remembered computers were signed out.",
                    Severity.INFO,
                )
            )
        )
        dialog.open()

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About ecomdesk",
            f"<b>ecomdesk {__version__}</b><p>The back office of an online shop, straight against its "
            f"PostgreSQL database.</p><p>Log file: {log_file()}</p>",
        )

    # -- layout --------------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry, state = self.preferences.window_layout()
        if geometry is None or not self.restoreGeometry(geometry):
            # First start: most of the screen (a list and a side panel want room), at least
            # 80 × 40 characters where the screen has them.
            em, line = self.fontMetrics().horizontalAdvance("M"), self.fontMetrics().height()
            screen = self.screen().availableGeometry()
            self.resize(
                min(screen.width(), max(em * 80, round(screen.width() * 0.8))),
                min(screen.height(), max(line * 40, round(screen.height() * 0.8))),
            )
        if state is not None:
            self.restoreState(state)
        keys = self.page_keys()
        last = self.preferences.last_page
        self.navigation.setCurrentRow(keys.index(last) if last in keys else 0)

    def save_layout(self) -> None:
        self.preferences.save_window_layout(self.saveGeometry(), self.saveState())

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.watcher.stop()
        self._rebuild_timer.stop()
        self.report_runner.stop()  # a report being generated goes back to the queue
        super().closeEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if is_theme_change(event) and hasattr(self, "user_button"):
            self._apply_icons()
        elif event.type() == QEvent.Type.WindowStateChange and hasattr(self, "watcher"):
            self.watcher.set_minimized(self.isMinimized())
