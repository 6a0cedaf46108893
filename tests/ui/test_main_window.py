"""The main window: pages by permission, shortcuts forwarded to the page, the layout and last page
remembered, the message bar fed by the one error path, the status bar following the connection
(and the probe that brings it back), and signing out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QSpinBox, QWidget
from pytestqt.qtbot import QtBot

from ecomdesk.config import DeviceTokenStore
from ecomdesk.connect import close_services, open_services
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import PermissionDenied, Unavailable
from ecomdesk.services.registry import Services
from ecomdesk.ui import pages
from ecomdesk.ui.app import Shell
from ecomdesk.ui.connection import ConnectionWindow, Target
from ecomdesk.ui.login import ChangePasswordDialog
from ecomdesk.ui.main_window import MainWindow, local_time
from ecomdesk.ui.pages import PlaceholderPage, page_spec, register_page
from ecomdesk.ui.profile import ProfileDialog
from ecomdesk.ui.session import AppSession, ConnectionState
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import PASSWORD, Staff
from tests.ui.desktop import opened_urls

ALL = ["dashboard", "users", "roles", "inventory", "reports", "activity", "integrations", "settings"]

OpenWindow = Callable[..., MainWindow]


@pytest.fixture
def open_window(qtbot: QtBot, services: Services, runner: TaskRunner) -> OpenWindow:
    """A main window for `actor` on the test database, shown, with its first load done."""

    def open_(actor: Actor, services: Services = services) -> MainWindow:
        session = AppSession(services, actor, runner, database_label="the test shop")
        window = MainWindow(session)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: runner.pending == 0, timeout=15_000)
        return window

    return open_


@pytest.fixture
def restore_pages() -> Iterator[None]:
    saved = {spec.key: spec for spec in pages.page_specs()}
    yield
    for spec in saved.values():
        register_page(spec)


class ProbePage(QLineEdit):
    """A page that counts what the main window asks of it."""

    def __init__(self, _session: AppSession) -> None:
        super().__init__()
        self.refreshed = 0
        self.searched = 0
        self.shown = 0

    def refresh(self) -> None:
        self.refreshed += 1

    def focus_search(self) -> None:
        self.searched += 1
        self.setFocus()

    def page_shown(self) -> None:
        self.shown += 1


# -- pages by permission ------------------------------------------------------------------------


def test_a_viewer_sees_only_the_pages_their_role_allows(open_window: OpenWindow, staff: Staff) -> None:
    window = open_window(staff.viewer)
    assert window.page_keys() == ["dashboard", "inventory", "reports", "settings"]
    assert [window.navigation.item(i).text() for i in range(window.navigation.count())] == [
        "Dashboard",
        "Inventory",
        "Reports",
        "Settings",
    ]
    window.show_page("users")  # not permitted: nothing happens
    assert window.current_key == "dashboard"


def test_an_admin_sees_every_page_and_a_manager_all_but_roles(open_window: OpenWindow, staff: Staff) -> None:
    assert open_window(staff.admin).page_keys() == ALL
    assert open_window(staff.manager).page_keys() == [k for k in ALL if k not in ("roles", "integrations")]


def test_pages_are_built_on_first_visit(open_window: OpenWindow, staff: Staff) -> None:
    window = open_window(staff.admin)
    assert set(window.pages) == {"dashboard"}
    assert window.stack.currentWidget() is window.current_page
    window.show_page("roles")
    assert set(window.pages) == {"dashboard", "roles"}


def test_a_page_whose_screen_is_not_built_yet_is_a_tidy_placeholder(
    open_window: OpenWindow, staff: Staff, restore_pages: None
) -> None:
    spec = page_spec("dashboard")
    placeholder = PlaceholderPage(spec.title, spec.summary, spec.icon)
    register_page(replace(spec, factory=lambda _session: placeholder))
    window = open_window(staff.admin)
    page = window.current_page
    assert isinstance(page, PlaceholderPage)
    assert window.stack.currentWidget() is page
    texts = " ".join(label.text() for label in page.findChildren(type(window.shop_label)))
    assert "Dashboard" in texts and "at a glance" in texts


def test_a_registered_page_replaces_the_placeholder_in_its_place(
    open_window: OpenWindow, staff: Staff, restore_pages: None
) -> None:
    register_page(replace(page_spec("inventory"), factory=ProbePage))
    window = open_window(staff.viewer)
    window.show_page("inventory")
    assert isinstance(window.current_page, ProbePage)
    assert window.page_keys().index("inventory") == 1
    assert window.current_page.shown == 1


def test_ctrl_number_switches_pages_and_f5_and_ctrl_f_reach_the_page(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff, restore_pages: None
) -> None:
    register_page(replace(page_spec("inventory"), factory=ProbePage))
    window = open_window(staff.viewer)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.current_key == "inventory"
    page = window.current_page
    assert isinstance(page, ProbePage)
    QTest.keyClick(window, Qt.Key.Key_F5)
    QTest.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert (page.refreshed, page.searched) == (1, 1)
    assert page.hasFocus()
    QTest.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.current_key == "settings"


class WatchingPage(ProbePage):
    """A page showing the inventory: it wants to hear when items change."""

    watches = frozenset({"inventory_items"})


def _add_an_item_by_sql(services: Services) -> None:
    """A change made outside the app, as psql would make it."""
    with services.ctx.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO inventory_items (sku, name, category, supplier, price, cost, stock) "
            "VALUES ('LIVE-1', 'Lamp', 'Home', 'Acme', 10, 5, 3)"
        )


def test_a_change_to_a_table_the_shown_page_watches_refreshes_it_and_nothing_else_does(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff, services: Services, restore_pages: None
) -> None:
    register_page(replace(page_spec("inventory"), factory=WatchingPage))
    register_page(replace(page_spec("reports"), factory=ProbePage))
    window = open_window(staff.viewer)
    window.preferences.refresh_interval = 1
    window.show_page("reports")
    reports = window.current_page
    window.show_page("inventory")
    page = window.current_page
    assert isinstance(page, WatchingPage) and isinstance(reports, ProbePage)
    qtbot.waitUntil(lambda: window.watcher._cursor is not None, timeout=5000)
    qtbot.wait(1500)  # polls that find nothing refresh nothing
    assert page.refreshed == 0
    _add_an_item_by_sql(services)
    qtbot.waitUntil(lambda: page.refreshed == 1, timeout=3000)
    assert reports.refreshed == 0  # it does not show the inventory


def test_a_hidden_page_whose_tables_changed_refreshes_when_it_is_shown_again(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff, services: Services, restore_pages: None
) -> None:
    register_page(replace(page_spec("inventory"), factory=WatchingPage))
    window = open_window(staff.viewer)
    window.preferences.refresh_interval = 1
    window.show_page("inventory")
    page = window.current_page
    assert isinstance(page, WatchingPage)
    window.show_page("settings")
    qtbot.waitUntil(lambda: window.watcher._cursor is not None, timeout=5000)
    _add_an_item_by_sql(services)
    qtbot.waitUntil(lambda: "inventory" in window._stale, timeout=3000)
    assert page.refreshed == 0
    window.show_page("inventory")
    assert page.refreshed == 1 and "inventory" not in window._stale


def test_a_page_that_fails_to_build_is_said_in_the_message_bar(
    open_window: OpenWindow, staff: Staff, restore_pages: None
) -> None:
    def broken(_session: AppSession) -> QWidget:
        raise PermissionDenied("reports.read", "The reports are closed today.")

    register_page(replace(page_spec("reports"), factory=broken))
    window = open_window(staff.viewer)
    window.show_page("reports")
    assert window.messages.isVisible()
    assert window.messages.text == "The reports are closed today."
    assert window.current_key == "reports"


# -- layout -----------------------------------------------------------------------------------


def test_the_window_size_and_last_page_come_back_at_the_next_start(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff
) -> None:
    first = open_window(staff.manager)
    first.resize(QSize(760, 560))
    first.show_page("reports")
    first.close()
    second = open_window(staff.manager)
    assert second.size() == QSize(760, 560)
    assert second.current_key == "reports"


def test_a_last_page_the_user_may_not_see_falls_back_to_the_first(
    open_window: OpenWindow, staff: Staff
) -> None:
    admin = open_window(staff.admin)
    admin.show_page("roles")
    admin.close()
    viewer = open_window(staff.viewer)
    assert viewer.current_key == "dashboard"


# -- messages and the status bar ----------------------------------------------------------------


def test_a_failed_task_is_described_in_the_message_bar(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff, runner: TaskRunner
) -> None:
    window = open_window(staff.viewer)

    def refused(_control: object) -> None:
        raise PermissionDenied("users.write")

    runner.submit(refused)
    qtbot.waitUntil(window.messages.isVisible, timeout=5000)
    assert window.messages.text == "You do not have the permission 'users.write' needed for this."
    assert not window.messages.log_button.isVisible()
    window.messages._close.click()
    assert not window.messages.isVisible()


def test_an_unexpected_error_offers_the_log_folder(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff, runner: TaskRunner, user_dirs: Path
) -> None:
    window = open_window(staff.viewer)

    def bug(_control: object) -> None:
        raise KeyError("surprise")

    runner.submit(bug)
    qtbot.waitUntil(window.messages.isVisible, timeout=5000)
    assert window.messages.message is not None
    assert window.messages.message.title == "Something went wrong"
    assert window.messages.log_button.isVisible()
    with opened_urls() as urls:
        window.messages.log_button.click()
    log_path = window.messages.message.log_path
    assert log_path is not None
    assert [Path(url.toLocalFile()) for url in urls] == [log_path.parent]


def test_the_same_error_again_is_counted_not_stacked(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff
) -> None:
    window = open_window(staff.viewer)
    for _ in range(3):
        window.messages.show_error(PermissionDenied("users.write"))
    assert window.messages.text.endswith("(3×)")


def test_the_status_bar_shows_who_where_the_state_and_the_refresh_time(
    open_window: OpenWindow, staff: Staff
) -> None:
    window = open_window(staff.viewer)
    session = window.session
    assert window.database_label.text() == "the test shop"
    assert window.user_label.text() == "Vic Viewer · viewer"
    assert "Vic Viewer" in window.user_button.text()
    assert "Connected" in window.state_label.text()
    assert window.refreshed_label.text().startswith("Up to date at ")  # the first poll answered
    session.set_state(ConnectionState.RECONNECTING)
    assert "Reconnecting…" in window.state_label.text()
    session.set_state(ConnectionState.OFFLINE)
    assert "Offline" in window.state_label.text()
    when = dt.datetime(2026, 11, 27, 10, 42, tzinfo=dt.UTC)
    session.note_refreshed(when)
    assert window.refreshed_label.text() == f"Up to date at {local_time(when)}"
    assert "Connected" in window.state_label.text()
    assert window.windowTitle() == "Demo Shop — ecomdesk"


def test_an_unavailable_database_makes_the_watcher_probe_soon_and_reconnect_when_it_answers(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff, runner: TaskRunner
) -> None:
    window = open_window(staff.viewer)
    window.watcher.first_backoff_ms = 50

    def lost(_control: object) -> None:
        raise Unavailable("The connection to the database was lost. Nothing was changed.")

    runner.submit(lost)
    qtbot.waitUntil(lambda: window.session.state is ConnectionState.RECONNECTING, timeout=5000)
    assert window.watcher._poll_timer.remainingTime() <= 60  # not a whole interval away
    qtbot.waitUntil(lambda: window.session.state is ConnectionState.CONNECTED, timeout=5000)
    assert window.messages.message is not None and window.messages.message.title == "Connected again"


def test_connection_trouble_a_page_handled_itself_still_starts_the_probe(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff
) -> None:
    window = open_window(staff.viewer)
    said: list[BaseException] = []

    def fail(_control: object) -> None:
        raise Unavailable("The database cannot be reached right now.")

    window.session.runner.submit(fail, on_error=said.append)  # e.g. a dialog's "Nothing was saved"
    qtbot.waitUntil(lambda: window.session.state is ConnectionState.RECONNECTING, timeout=5_000)
    assert len(said) == 1 and window.watcher._failures == 1
    assert window.messages.message is None  # the page said it; no second message


def test_a_database_that_stays_away_turns_reconnecting_into_offline(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff, tmp_path: Path
) -> None:
    gone = open_services(f"postgresql://postgres@/shop?host={tmp_path}")
    try:
        window = open_window(staff.viewer, services=gone)  # its first load already failed
        assert window.session.state is ConnectionState.RECONNECTING
        assert window.messages.message is not None
        assert window.messages.message.title == "Database unavailable"
        window.watcher.first_backoff_ms = window.watcher.max_backoff_ms = 20
        qtbot.waitUntil(lambda: window.session.state is ConnectionState.OFFLINE, timeout=10_000)
        watcher = window.watcher
        qtbot.waitUntil(lambda: watcher._poll_timer.isActive() or watcher._task is not None)  # still asking
        assert "Offline" in window.state_label.text()
    finally:
        close_services(gone)


# -- the account menu ----------------------------------------------------------------------------


def test_the_account_menu_edits_my_profile_and_the_window_shows_my_new_name(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    window = open_window(staff.viewer)  # no right is needed for one's own profile
    menu = window.user_button.menu()
    assert menu is not None
    assert [a.text() for a in menu.actions() if a.text()][1:] == [
        "My &profile and devices…",
        "Change password…",
        "Sign &out",
    ]
    window.profile_action.trigger()
    dialog = window.findChild(ProfileDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.loaded, timeout=15_000)
    dialog.first_name.setText("Victoria")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=15_000)
    assert window.user_button.text() == "Victoria Viewer (viewer)"
    assert window.user_label.text() == "Victoria Viewer · viewer"
    assert services.users.get_user(staff.viewer, staff.viewer.user_id).first_name == "Victoria"


def test_the_account_menu_changes_my_password(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    window = open_window(staff.manager)
    (action,) = [a for a in window.user_button.menu().actions() if a.text() == "Change password…"]
    action.trigger()
    dialog = window.findChild(ChangePasswordDialog)
    assert dialog is not None and dialog.windowTitle() == "Change password"
    new = "a quite different sentence of words"
    dialog.current.setText(PASSWORD)
    dialog.new.setText(new)
    dialog.repeat.setText(new)
    dialog.submit()
    qtbot.waitUntil(lambda: window.messages.message is not None, timeout=15_000)
    assert window.messages.message is not None and window.messages.message.title == "Password changed"
    services.auth.authenticate(staff.manager.email, new)


# -- leaving -----------------------------------------------------------------------------------


def _signed_in_shell(qtbot: QtBot, shell: Shell, database_url: str, email: str) -> MainWindow:
    shell.start(Target(database_url, "the test shop"))
    login = shell.login_window
    assert login is not None
    qtbot.waitUntil(login.email.isEnabled, timeout=15_000)
    login.remember.setChecked(True)
    login.email.setText(email)
    login.password.setText(PASSWORD)
    login.sign_in_button.click()
    qtbot.waitUntil(lambda: shell.main_window is not None, timeout=15_000)
    assert shell.main_window is not None
    return shell.main_window


def test_sign_out_ends_the_device_session_and_returns_to_the_sign_in(
    qtbot: QtBot, shell: Shell, services: Services, staff: Staff, database_url: str
) -> None:
    window = _signed_in_shell(qtbot, shell, database_url, staff.manager.email)
    assert DeviceTokenStore().get(database_url) is not None
    assert len(services.auth.list_sessions(staff.manager)) == 1
    window.sign_out_action.trigger()
    login = shell.login_window
    assert login is not None and shell.main_window is None
    qtbot.waitUntil(lambda: login.status.text() == "You are signed out.", timeout=15_000)
    assert login.email.text() == staff.manager.email
    assert DeviceTokenStore().get(database_url) is None
    assert services.auth.list_sessions(staff.manager) == []


def test_revoking_this_computers_sign_in_elsewhere_signs_the_app_out_at_its_next_call(
    qtbot: QtBot, shell: Shell, services: Services, staff: Staff, database_url: str
) -> None:
    window = _signed_in_shell(qtbot, shell, database_url, staff.manager.email)
    qtbot.waitUntil(lambda: shell.runner.pending == 0, timeout=15_000)
    (device,) = services.auth.list_sessions(staff.admin, staff.manager.user_id)
    services.auth.revoke_session(staff.admin, device.id)  # an administrator, on another computer
    assert shell.main_window is window  # nothing happens until the app's next call

    window.refresh_action.trigger()
    qtbot.waitUntil(lambda: shell.main_window is None and shell.login_window is not None, timeout=15_000)
    login = shell.login_window
    assert login is not None
    qtbot.waitUntil(lambda: "revoked" in login.status.text(), timeout=15_000)
    assert login.status.text() == "This sign-in has ended (signed out or revoked). Please sign in again."
    assert login.email.text() == staff.manager.email
    assert DeviceTokenStore().get(database_url) is None  # the dead token is forgotten too


def test_switch_connection_returns_to_the_connection_window(
    qtbot: QtBot, shell: Shell, staff: Staff, database_url: str
) -> None:
    window = _signed_in_shell(qtbot, shell, database_url, staff.viewer.email)
    window.switch_action.trigger()
    assert isinstance(shell.connection_window, ConnectionWindow)
    assert shell.main_window is None and shell.services is None


def test_ctrl_q_asks_to_quit(qtbot: QtBot, open_window: OpenWindow, staff: Staff) -> None:
    window = open_window(staff.viewer)
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    with qtbot.waitSignal(window.quit_requested, timeout=1000):
        window.quit_action.trigger()


def test_every_control_has_a_name_for_screen_readers(open_window: OpenWindow, staff: Staff) -> None:
    window = open_window(staff.admin)
    window.show_page("settings")
    unnamed = [
        f"{type(w).__name__} {w.objectName()!r}"
        for w in window.findChildren(QWidget)
        if isinstance(w, QLineEdit | QComboBox | QSpinBox | QAbstractButton)
        and w.isVisibleTo(window)
        and not (w.accessibleName() or (isinstance(w, QAbstractButton) and w.text()))
        and not isinstance(w.parent(), QSpinBox | QComboBox)  # their inner line edits
    ]
    assert unnamed == []


def test_every_page_watches_only_tables_the_change_log_tracks() -> None:
    """A misspelt or untracked table in `watches` would silently never refresh the page."""
    from ecomdesk.db.changes import TRACKED_TABLES
    from ecomdesk.ui.pages.activity import ActivityPage
    from ecomdesk.ui.pages.dashboard import DashboardPage
    from ecomdesk.ui.pages.inventory import InventoryPage
    from ecomdesk.ui.pages.reports import ReportsPage
    from ecomdesk.ui.pages.roles import RolesPage
    from ecomdesk.ui.pages.settings import SettingsPage
    from ecomdesk.ui.pages.users import UsersPage

    classes = (ActivityPage, DashboardPage, InventoryPage, ReportsPage, RolesPage, SettingsPage, UsersPage)
    for page_class in classes:
        watches = page_class.watches
        assert watches and watches <= TRACKED_TABLES, page_class.__name__
