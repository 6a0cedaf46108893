"""The app on a snapshot file: opened through the shell with no server and no sign-in, a banner
that says whose shop and when, every page with its rows, no enabled write action anywhere, the
file unchanged afterwards; a passphrase asked for (again when wrong); a damaged file explained
where the person was; and File → Create snapshot… with progress, cancel and "Open it".

The snapshots are made from a small shop through the service itself (`services.snapshots.create`),
as the app makes them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, insert

from ecomdesk.bootstrap import open_snapshot
from ecomdesk.db import metrics
from ecomdesk.db.models import OrderEvent
from ecomdesk.services.context import Actor
from ecomdesk.services.errors import SnapshotError
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.registry import Services
from ecomdesk.services.reports import ReportRequest
from ecomdesk.services.webhooks import EndpointDraft
from ecomdesk.ui.app import Shell
from ecomdesk.ui.errors import describe
from ecomdesk.ui.grid.format import datetime_text
from ecomdesk.ui.grid.view import GridView
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.pages.dashboard import DashboardPage
from ecomdesk.ui.pages.reports import ReportsPage
from ecomdesk.ui.pages.settings import SettingsPage
from ecomdesk.ui.permissions import READ_ONLY
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.snapshot_dialogs import (
    STOPPED,
    WRONG_PASSPHRASE,
    CreateSnapshotDialog,
    PassphraseDialog,
    SnapshotDetailsDialog,
    count_text,
)
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import Staff

WAIT_MS = 20_000
SHOP = "Corner Shop"
PASSPHRASE = "blue kettle at noon"
ALL_PAGES = ["dashboard", "users", "roles", "inventory", "reports", "activity", "integrations", "settings"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def shop(services: Services, staff: Staff, engine: Engine) -> Services:
    """A small shop with a row in every table a page lists: items and their movements, orders
    and their metrics, a generated report, and the activity all that left behind."""
    services.settings.update_system_settings(staff.admin, {"shop_name": SHOP})
    for sku, stock in (("MUG-1", 3), ("MUG-2", 40), ("LAMP-1", 5)):
        fields = ItemFields(sku, f"Item {sku}", "Kitchen", "Acme", Decimal("9.00"), Decimal("3.00"))
        services.inventory.create_item(staff.manager, fields, stock=stock)
    day = dt.date(2026, 11, 26)
    noon = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)
    orders = [
        {
            "order_id": f"A{n}",
            "customer_id": f"c{n % 2}",
            "channel": "web",
            "currency": "EUR",
            "status": "paid",
            "amount": Decimal("25.00") * n,
            "occurred_at": noon,
            "paid_date": day,
            "meta": {},
        }
        for n in (1, 2, 3)
    ]
    with engine.begin() as conn:
        conn.execute(insert(OrderEvent), orders)
        metrics.refresh(conn, days={day}, customer_ids={"c0", "c1"})
    services.reports.request(staff.manager, ReportRequest("inventory-valuation"))
    services.reports.run_pending("tests")
    # A webhook endpoint with a delivery waiting (nobody sends it: the log's row is all it takes).
    endpoint = EndpointDraft("http://127.0.0.1:9/hooks", ("*",), allow_private=True)
    endpoint_id = services.webhooks.add_endpoint(staff.admin, endpoint).endpoint.id
    services.webhooks.send_test(staff.admin, endpoint_id)
    return services


@pytest.fixture
def snapshot_file(shop: Services, staff: Staff, tmp_path: Path) -> Path:
    target = tmp_path / "corner.ecomsnap"
    shop.snapshots.create(staff.admin, target, source_label="the test shop")
    return target


def open_in_shell(qtbot: QtBot, shell: Shell, path: Path) -> MainWindow:
    shell.start(snapshot=path)
    qtbot.waitUntil(lambda: shell.main_window is not None, timeout=WAIT_MS)
    window = shell.main_window
    assert window is not None
    settle(qtbot, shell.runner)
    return window


def main_window_of(shell: Shell) -> MainWindow | None:
    """The shell's main window now (a call, so a type checker does not keep an earlier answer)."""
    return shell.main_window


def passphrase_dialog_of(shell: Shell) -> PassphraseDialog | None:
    return shell.passphrase_dialog


def settle(qtbot: QtBot, runner: TaskRunner) -> None:
    qtbot.waitUntil(lambda: runner.pending == 0, timeout=WAIT_MS)
    qtbot.wait(20)


def label(target: QAction | QAbstractButton) -> str:
    return target.text().replace("&", "").strip()


def enabled_actions(root: QWidget) -> set[str]:
    """What a person could trigger in `root` now: enabled actions (menus, pages, context menus)
    and enabled buttons they can see. A grid's show/hide-column toggles are left out: they only
    change the view, and they are named after the columns."""
    columns = {action for grid in root.findChildren(GridView) for action in grid.columns_menu.actions()}
    found: set[str] = set()
    for action in root.findChildren(QAction):
        if action in columns or action.isSeparator() or not label(action):
            continue
        if action.isEnabled() and action.isVisible():
            found.add(label(action))
    for button in root.findChildren(QAbstractButton):
        if button.isEnabled() and button.isVisibleTo(root) and label(button):
            found.add(label(button))
    return found


def select_first_rows(page: QWidget) -> None:
    """Select the first row of every list on the page: actions that need a selection wake up."""
    for view in page.findChildren(QAbstractItemView):
        model = view.model()
        if view.isVisibleTo(page) and model is not None and model.rowCount() > 0:
            view.setCurrentIndex(model.index(0, 0))


def walk(qtbot: QtBot, window: MainWindow) -> dict[str, set[str]]:
    """Every page shown, its first rows selected: the enabled actions of each page, and of the
    window's menus (key "window")."""
    seen: dict[str, set[str]] = {}
    for key in window.page_keys():
        window.show_page(key)
        settle(qtbot, window.session.runner)
        page = window.current_page
        assert page is not None
        select_first_rows(page)
        settle(qtbot, window.session.runner)
        seen[key] = enabled_actions(page)
    seen["window"] = enabled_actions(window) - set().union(*seen.values())
    return seen


#: What stays possible on a snapshot: reading, finding, sorting, filtering, exporting, opening
#: stored content, and the app's own menus and this computer's preferences.
READ_ACTIONS = frozenset(
    {
        # the window: menus, pages, theme, help, the snapshot's own
        "File", "View", "Help", "Theme", "Light", "Dark", "Follow the system",
        "Dashboard", "Users", "Roles", "Inventory", "Reports", "Activity", "Integrations", "Settings",
        "Refresh", "Find", "Quit", "About ecomdesk", "Open log folder",
        "Open snapshot…", "Close snapshot", "Switch connection…", "Details…",
        "Ada Admin (admin)", "My profile and devices…",
        # every grid: search, refresh, copy, export
        "Columns", "Copy", "Export", "Export…",
        # dashboard: its range and channel choices (the shop sells on "web"), chart exports
        "Day", "Week", "Month", "All channels", "web", "Export CSV…", "Export...", "Save as PNG…", "⋯",
        # inventory: the selected item's stock history, archived items shown or not
        "History", "Show archived",
        # reports: a stored report opened and saved as a file
        "Open", "Save as", "Save as…",
        # activity: an entry's before and after
        "Details",
        # settings: this computer's own preference
        "Ask before deleting anything",
        # dialogs: leaving them
        "Close", "Cancel",
    }
)  # fmt: skip


@pytest.fixture
def shell(make_shell: Callable[[], Shell]) -> Shell:
    return make_shell()


def test_a_snapshot_named_at_start_opens_the_main_window_read_only_with_no_server_and_no_sign_in(
    qtbot: QtBot, shell: Shell, snapshot_file: Path, staff: Staff
) -> None:
    window = open_in_shell(qtbot, shell, snapshot_file)

    session = window.session
    assert session.read_only and session.snapshot is not None
    assert session.actor.email == staff.admin.email  # opened as the person who took it
    taken = datetime_text(dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC), QLocale())  # the fake clock
    assert window.banner is not None and window.banner.isVisible()
    assert window.banner.text == f"Snapshot of {SHOP} taken {taken} — read-only"
    assert "the test shop" in window.banner.toolTip() and str(snapshot_file) in window.banner.toolTip()
    assert window.windowTitle().startswith(f"Snapshot of {SHOP}") and "read-only" in window.windowTitle()
    assert window.database_label.text() == "Snapshot · corner.ecomsnap"
    assert "Snapshot" in window.state_label.text()
    assert not window.refreshed_label.isVisible()
    assert not window.watcher.running and not window.report_runner.running
    assert not window.sign_out_action.isVisible() and window.close_snapshot_action.isVisible()
    assert not window.create_snapshot_action.isVisible()


def test_the_details_show_where_the_snapshot_came_from_and_the_rows_of_each_table(
    qtbot: QtBot, shell: Shell, snapshot_file: Path
) -> None:
    window = open_in_shell(qtbot, shell, snapshot_file)
    assert window.banner is not None
    window.banner.details_button.click()
    dialog = window.findChild(SnapshotDetailsDialog)
    assert dialog is not None and dialog.isVisible()
    table = dialog.tables

    def cell(row: int, column: int) -> str:
        item = table.item(row, column)
        return item.text() if item is not None else ""

    counts = {cell(row, 0): cell(row, 1) for row in range(table.rowCount())}
    assert counts["inventory_items"] == "3" and counts["order_events"] == "3"
    left_out = {cell(row, 0): cell(row, 2) for row in range(table.rowCount())}
    assert left_out["jobs"]  # work in progress never goes into a snapshot, and the dialog says why
    dialog.close()


def test_every_page_opens_on_the_snapshot_and_shows_its_rows(
    qtbot: QtBot, shell: Shell, snapshot_file: Path
) -> None:
    window = open_in_shell(qtbot, shell, snapshot_file)
    assert window.page_keys() == ALL_PAGES
    for key in ALL_PAGES:
        window.show_page(key)
        settle(qtbot, shell.runner)
        page = window.current_page
        assert page is not None and not isinstance(page, QLabel), key  # (a page that failed to build)
        for grid in page.findChildren(GridView):
            if grid.isVisibleTo(page):
                assert not grid.banner.isVisibleTo(grid), (key, grid.banner_label.text())
                assert grid.model.rowCount() > 0, (key, grid.name)
    assert not window.messages.isVisible(), window.messages.text
    dashboard = window.pages["dashboard"]
    assert isinstance(dashboard, DashboardPage) and dashboard.dashboard is not None
    assert dashboard.dashboard.kpi("revenue") is not None
    settings = window.pages["settings"]
    assert isinstance(settings, SettingsPage)
    assert settings.shop.shop_name.text() == SHOP and settings.shop.shop_name.isReadOnly()
    assert settings.shop.status.text() == READ_ONLY


def test_no_write_action_is_enabled_anywhere_on_a_snapshot(
    qtbot: QtBot, shell: Shell, snapshot_file: Path
) -> None:
    window = open_in_shell(qtbot, shell, snapshot_file)
    seen = walk(qtbot, window)
    writes = {key: sorted(actions - READ_ACTIONS) for key, actions in seen.items()}
    assert writes == {key: [] for key in seen}

    profile = window.open_profile()
    settle(qtbot, shell.runner)
    assert sorted(enabled_actions(profile) - READ_ACTIONS) == []
    profile.close()

    reports = window.pages["reports"]
    assert isinstance(reports, ReportsPage)
    preview = reports.open_report()  # a stored report's content still opens
    assert preview is not None
    qtbot.waitUntil(lambda: preview.loaded, timeout=WAIT_MS)
    assert sorted(enabled_actions(preview) - READ_ACTIONS) == []
    preview.close()


def test_the_same_walk_finds_write_actions_enabled_on_the_live_database(
    qtbot: QtBot, shop: Services, staff: Staff, runner: TaskRunner
) -> None:
    """The walk above can fail: on the database itself, the same person has write actions."""
    session = AppSession(shop, staff.admin, runner, database_label="the test shop")
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    settle(qtbot, runner)
    found = set().union(*walk(qtbot, window).values())
    writes = found - READ_ACTIONS
    assert {"New item…", "Delete…", "Create snapshot…", "Sign out", "Change password…"} <= writes
    window.close()


def test_a_session_on_a_snapshot_leaves_its_file_unchanged(
    qtbot: QtBot, shell: Shell, snapshot_file: Path
) -> None:
    before = sha256(snapshot_file)
    window = open_in_shell(qtbot, shell, snapshot_file)
    walk(qtbot, window)
    window.refresh()
    settle(qtbot, shell.runner)
    window.close_snapshot_action.trigger()
    qtbot.waitUntil(lambda: shell.connection_window is not None, timeout=WAIT_MS)
    assert shell.snapshot is None and shell.main_window is None
    assert sha256(snapshot_file) == before


def test_the_connection_window_opens_a_snapshot_chosen_in_the_file_dialog_and_remembers_its_folder(
    qtbot: QtBot, shell: Shell, snapshot_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def choose(_parent: object, _caption: str, folder: str, filters: str) -> tuple[str, str]:
        asked.append(filters)
        return str(snapshot_file), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(choose))
    window = shell.show_connection_window()
    window.snapshot_button.click()
    qtbot.waitUntil(lambda: shell.main_window is not None, timeout=WAIT_MS)
    assert shell.snapshot is not None and shell.snapshot.path == snapshot_file
    assert asked == ["ecomdesk snapshots (*.ecomsnap);;All files (*)"]
    assert shell.preferences.snapshot_folder == str(snapshot_file.parent)


def test_a_protected_snapshot_asks_for_its_passphrase_and_again_after_a_wrong_one(
    qtbot: QtBot, shell: Shell, shop: Services, staff: Staff, tmp_path: Path
) -> None:
    path = tmp_path / "locked.ecomsnap"
    shop.snapshots.create(staff.admin, path, passphrase=PASSPHRASE)

    shell.start(snapshot=path)
    qtbot.waitUntil(lambda: shell.passphrase_dialog is not None, timeout=WAIT_MS)
    dialog = shell.passphrase_dialog
    assert dialog is not None and dialog.passphrase.echoMode() == QLineEdit.EchoMode.Password
    assert not dialog.problem.isVisibleTo(dialog)
    dialog.passphrase.setText("not it")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Open).click()

    qtbot.waitUntil(lambda: shell.passphrase_dialog not in (None, dialog), timeout=WAIT_MS)
    again = shell.passphrase_dialog
    assert again is not None and again.problem.text() == WRONG_PASSPHRASE
    assert shell.main_window is None and shell.connection_window is not None
    again.passphrase.setText(PASSPHRASE)
    again.buttons.button(QDialogButtonBox.StandardButton.Open).click()

    qtbot.waitUntil(lambda: shell.main_window is not None, timeout=WAIT_MS)
    opened = main_window_of(shell)
    assert opened is not None and opened.banner is not None
    assert opened.banner.text.startswith(f"Snapshot of {SHOP}")


def test_cancelling_the_passphrase_leaves_the_person_where_they_were(
    qtbot: QtBot, shell: Shell, shop: Services, staff: Staff, tmp_path: Path
) -> None:
    path = tmp_path / "locked.ecomsnap"
    shop.snapshots.create(staff.admin, path, passphrase=PASSPHRASE)
    window = shell.show_connection_window()
    shell.open_snapshot(path)
    qtbot.waitUntil(lambda: shell.passphrase_dialog is not None, timeout=WAIT_MS)
    assert shell.passphrase_dialog is not None
    shell.passphrase_dialog.reject()
    assert passphrase_dialog_of(shell) is None
    assert shell.connection_window is window and window.isVisible() and shell.main_window is None
    assert window.snapshot_button.isEnabled()  # not busy any more


def test_a_damaged_snapshot_is_explained_and_the_connection_window_stays(
    qtbot: QtBot, shell: Shell, snapshot_file: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.ecomsnap"
    data = snapshot_file.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])  # cut off half-way, as by a full disk or a lost copy

    shell.start(snapshot=damaged)
    window = shell.connection_window
    assert window is not None
    qtbot.waitUntil(lambda: shell.runner.pending == 0 and not window.busy.isVisible(), timeout=WAIT_MS)
    assert shell.main_window is None and shell.connection_window is window and window.isVisible()
    expected = describe(snapshot_error(damaged)).text
    assert window.outcome.text() == expected and "damaged" in expected.lower()


def test_a_file_that_is_no_snapshot_opened_from_the_main_window_keeps_the_window_and_says_why(
    qtbot: QtBot, shell: Shell, snapshot_file: Path, tmp_path: Path
) -> None:
    window = open_in_shell(qtbot, shell, snapshot_file)
    other = tmp_path / "notes.ecomsnap"
    other.write_text("shopping list: milk, bread\n" * 200, encoding="utf-8")

    shell.open_snapshot(other)
    settle(qtbot, shell.runner)
    assert shell.main_window is window and shell.snapshot is not None
    assert shell.snapshot.path == snapshot_file
    assert window.messages.isVisible() and window.messages.text == describe(snapshot_error(other)).text


def snapshot_error(path: Path) -> SnapshotError:
    """What the data layer says of `path` (the sentence the window must show)."""
    with pytest.raises(SnapshotError) as caught:
        open_snapshot(path)
    return caught.value


# -- File → Create snapshot… -------------------------------------------------------------------


def open_live(qtbot: QtBot, services: Services, actor: Actor, runner: TaskRunner) -> MainWindow:
    session = AppSession(services, actor, runner, database_label="the test shop")
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    settle(qtbot, runner)
    return window


def test_create_snapshot_shows_its_progress_and_makes_a_file_that_opens(
    qtbot: QtBot, shop: Services, staff: Staff, runner: TaskRunner, tmp_path: Path
) -> None:
    window = open_live(qtbot, shop, staff.manager, runner)
    dialog = window.create_snapshot()
    assert isinstance(dialog, CreateSnapshotDialog)
    assert Path(dialog.file.text()).name == f"{SHOP}-{dt.date.today().isoformat()}.ecomsnap"
    target = tmp_path / "fair"  # typed without the extension
    dialog.file.setText(str(target))
    progress: list[tuple[int, int]] = []
    dialog.progress.valueChanged.connect(lambda value: progress.append((value, dialog.progress.maximum())))
    opened: list[Path] = []
    window.open_snapshot_requested.connect(opened.append)

    dialog.create_button.click()
    assert dialog.progress_row.isVisible() and not dialog.create_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.made is not None, timeout=WAIT_MS)

    made = tmp_path / "fair.ecomsnap"
    assert made.exists() and dialog.made_path == made
    assert dialog.made is not None
    rows = sum(dialog.made.row_counts.values())
    assert progress and progress[-1] == (rows, rows)  # the bar ended full
    text = dialog.outcome.text()
    assert str(made) in text and dialog.made.checksum in text and count_text(rows, QLocale()) in text
    assert dialog.open_button.isVisible()
    dialog.open_button.click()
    assert opened == [made]
    assert open_snapshot(made).info.checksum == dialog.made.checksum


def test_cancelling_a_snapshot_leaves_no_file(
    qtbot: QtBot, shop: Services, staff: Staff, runner: TaskRunner, tmp_path: Path
) -> None:
    window = open_live(qtbot, shop, staff.manager, runner)
    dialog = window.create_snapshot()
    assert dialog is not None
    dialog.file.setText(str(tmp_path / "stopped.ecomsnap"))
    dialog.create_button.click()
    dialog.cancel_button.click()  # before the first rows are copied: the service stops at the next batch
    qtbot.waitUntil(lambda: not dialog.is_busy, timeout=WAIT_MS)
    assert dialog.status.text() == STOPPED
    assert list(tmp_path.iterdir()) == []  # neither the file nor its partial copy
    assert dialog.file.text() == str(tmp_path / "stopped.ecomsnap")


def test_passphrases_that_differ_are_refused_next_to_the_field_and_the_inputs_stay(
    qtbot: QtBot, shop: Services, staff: Staff, runner: TaskRunner, tmp_path: Path
) -> None:
    window = open_live(qtbot, shop, staff.manager, runner)
    dialog = window.create_snapshot()
    assert dialog is not None
    dialog.file.setText(str(tmp_path / "locked.ecomsnap"))
    dialog.protect.setChecked(True)
    dialog.passphrase.setText(PASSPHRASE)
    dialog.repeat.setText(PASSPHRASE + "!")
    dialog.create_button.click()
    assert "differ" in dialog.fields["repeat"].message
    assert not dialog.is_busy and list(tmp_path.iterdir()) == []
    assert dialog.passphrase.text() == PASSPHRASE and dialog.protect.isChecked()


def test_a_folder_that_does_not_exist_is_said_through_the_service_and_the_inputs_stay(
    qtbot: QtBot, shop: Services, staff: Staff, runner: TaskRunner, tmp_path: Path
) -> None:
    window = open_live(qtbot, shop, staff.manager, runner)
    dialog = window.create_snapshot()
    assert dialog is not None
    target = tmp_path / "missing" / "shop.ecomsnap"
    dialog.file.setText(str(target))
    dialog.create_button.click()
    qtbot.waitUntil(lambda: not dialog.is_busy, timeout=WAIT_MS)
    assert "does not exist" in dialog.fields["file"].message
    assert dialog.file.text() == str(target) and dialog.made is None


def test_create_snapshot_is_disabled_for_a_viewer_with_the_reason(
    qtbot: QtBot, shop: Services, staff: Staff, runner: TaskRunner
) -> None:
    window = open_live(qtbot, shop, staff.viewer, runner)
    assert not window.create_snapshot_action.isEnabled()
    assert "snapshot.create" in window.create_snapshot_action.toolTip()
    assert window.create_snapshot() is None
