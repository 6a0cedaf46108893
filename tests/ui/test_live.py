"""Live updates in the app (issue 10), on a real database with real windows: the watcher's wake-up
and its backoff, two app windows seeing each other's changes (selection, scroll and open edit
dialogs untouched), a change made by plain SQL, and rights or sign-ins changed by an administrator
reaching the affected window within one poll."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView
from pytestqt.qtbot import QtBot

from ecomdesk.connect import close_services, open_services
from ecomdesk.db.changes import ChangeBatch
from ecomdesk.db.engine import libpq_url
from ecomdesk.services.context import Actor
from ecomdesk.services.inventory import InventoryRow, ItemFields
from ecomdesk.services.registry import Services
from ecomdesk.services.users import UserFields, UserRecord
from ecomdesk.ui.live import FAILURES_BEFORE_OFFLINE, MINIMIZED_MIN_MS, ChangeWatcher
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.pages.inventory import InventoryPage
from ecomdesk.ui.pages.item_dialogs import CHANGED_UNDERNEATH, DELETED_UNDERNEATH, TAKEN_THEIRS, ItemDialog
from ecomdesk.ui.pages.user_dialogs import CHANGED_UNDERNEATH as ACCOUNT_CHANGED
from ecomdesk.ui.pages.user_dialogs import UserDialog
from ecomdesk.ui.session import AppSession, ConnectionState
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import PASSWORD, FakeClock, Staff

WAIT_MS = 15_000
#: The polling interval of the windows here: "within one poll" is within this plus `SLACK_MS`.
INTERVAL_MS = 1000
SLACK_MS = 1500

OpenWindow = Callable[..., MainWindow]


@pytest.fixture
def open_window(qtbot: QtBot, services: Services, runner: TaskRunner) -> OpenWindow:
    """A main window for `actor` on the test database (all windows share one task runner), shown,
    its first load done, polling every `INTERVAL_MS`."""

    def open_(actor: Actor, page: str | None = None) -> MainWindow:
        session = AppSession(services, actor, runner, database_label="the test shop")
        window = MainWindow(session)
        qtbot.addWidget(window)
        window.show()
        if page is not None:
            window.show_page(page)
        window.watcher.fixed_interval_ms = INTERVAL_MS
        window.watcher.reschedule()
        qtbot.waitUntil(lambda: runner.pending == 0 and window.watcher._cursor is not None, timeout=WAIT_MS)
        return window

    return open_


@pytest.fixture
def make_watcher(
    services: Services, runner: TaskRunner, staff: Staff
) -> Iterator[Callable[..., ChangeWatcher]]:
    """A watcher on a bare session (no window): what it emits is all there is to see."""
    watchers: list[ChangeWatcher] = []

    def make(*, interval_ms: int, listen: bool = True, on: Services = services) -> ChangeWatcher:
        session = AppSession(on, staff.viewer, runner, database_label="test")
        watcher = ChangeWatcher(session, interval_ms=interval_ms, listen=listen, parent=session)
        watchers.append(watcher)
        return watcher

    yield make
    for watcher in watchers:
        watcher.stop()


def _plain_sql(database_url: str, statement: str) -> None:
    """A statement committed by a connection of its own, as psql or another program would."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(statement)


def _add_items(database_url: str, count: int) -> None:
    _plain_sql(
        database_url,
        "INSERT INTO inventory_items (sku, name, category, supplier, price, cost, stock) "
        f"SELECT 'SKU-' || lpad(n::text, 4, '0'), 'Item ' || lpad(n::text, 4, '0'), 'Home', 'Acme', 10, 5, 3 "
        f"FROM generate_series(1, {count}) AS n",
    )


def _record_changes(session: AppSession) -> list[tuple[float, ChangeBatch]]:
    seen: list[tuple[float, ChangeBatch]] = []
    session.changes_seen.connect(lambda batch: seen.append((time.monotonic(), batch)))
    return seen


def _inventory(window: MainWindow) -> InventoryPage:
    page = window.current_page
    assert isinstance(page, InventoryPage)
    return page


def _loaded(qtbot: QtBot, page: InventoryPage) -> None:
    model = page.grid.model
    qtbot.waitUntil(lambda: model.is_loaded and not model.is_busy, timeout=WAIT_MS)


def _editor(qtbot: QtBot, page: InventoryPage, record: InventoryRow) -> ItemDialog:
    dialog = page.open_editor(record)
    qtbot.waitUntil(lambda: dialog.loaded and not dialog.busy.isVisible(), timeout=WAIT_MS)
    return dialog


def _price(services: Services, staff: Staff, item: InventoryRow, price: str) -> InventoryRow:
    """Someone else (the manager, in another app) saves a new price."""
    fields = ItemFields(item.sku, item.name, item.category, item.supplier, Decimal(price), item.cost)
    return services.inventory.update_item(staff.manager, item.id, fields, expected_version=item.version)


# -- the watcher ---------------------------------------------------------------------------------


def test_a_notification_wakes_the_poll_at_once_instead_of_after_the_interval(
    qtbot: QtBot, make_watcher: Callable[..., ChangeWatcher], database_url: str
) -> None:
    watcher = make_watcher(interval_ms=60_000)
    seen = _record_changes(watcher.session)
    watcher.start()
    qtbot.waitUntil(lambda: watcher.listening, timeout=WAIT_MS)
    committed = time.monotonic()
    _add_items(database_url, 1)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)  # the interval is a minute
    assert seen[0][0] - committed < 1.0
    assert seen[0][1].rows("inventory_items") is not None


def test_without_the_listener_a_change_waits_for_the_next_poll(
    qtbot: QtBot, make_watcher: Callable[..., ChangeWatcher], database_url: str
) -> None:
    interval = 1500
    watcher = make_watcher(interval_ms=interval, listen=False)
    seen = _record_changes(watcher.session)
    with qtbot.waitSignal(watcher.session.refreshed, timeout=WAIT_MS):
        watcher.start()
    with qtbot.waitSignal(watcher.session.refreshed, timeout=WAIT_MS):
        pass  # right after a poll: the next one is a whole interval away
    committed = time.monotonic()
    _add_items(database_url, 1)
    qtbot.waitUntil(lambda: bool(seen), timeout=interval + SLACK_MS)
    assert not watcher.listening
    assert seen[0][0] - committed > interval / 1000 * 0.7  # (less the time the commit took)


def test_a_listener_whose_backend_is_terminated_is_dropped_and_opened_again(
    qtbot: QtBot, make_watcher: Callable[..., ChangeWatcher], database_url: str
) -> None:
    watcher = make_watcher(interval_ms=60_000)
    seen = _record_changes(watcher.session)
    watcher.start()
    qtbot.waitUntil(lambda: watcher.listening, timeout=WAIT_MS)
    first = watcher._listener
    assert first is not None
    _plain_sql(database_url, f"SELECT pg_terminate_backend({first._conn.info.backend_pid})")

    def listening_again() -> bool:
        listener = watcher._listener
        return listener is not None and listener is not first and not listener._conn.closed

    qtbot.waitUntil(listening_again, timeout=5000)  # long before the minute's poll
    assert first._conn.closed  # the dead one was closed, not left behind
    assert watcher.session.state is ConnectionState.CONNECTED
    committed = time.monotonic()
    _add_items(database_url, 1)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen[0][0] - committed < 1.0  # the new listener wakes the poll as the first did


def test_failed_polls_back_off_and_turn_reconnecting_into_offline(
    qtbot: QtBot, make_watcher: Callable[..., ChangeWatcher], tmp_path: Path
) -> None:
    gone = open_services(f"postgresql://postgres@/shop?host={tmp_path}")  # no server listens there
    try:
        watcher = make_watcher(interval_ms=60_000, on=gone)
        watcher.first_backoff_ms, watcher.max_backoff_ms = 150, 600
        states: list[ConnectionState] = []
        watcher.session.state_changed.connect(states.append)
        delays: list[int] = []
        watcher.start()
        for failures in range(1, FAILURES_BEFORE_OFFLINE + 1):

            def settled(n: int = failures) -> bool:  # the poll failed and the next one is scheduled
                return watcher._failures == n and watcher._task is None

            qtbot.waitUntil(settled, timeout=WAIT_MS)
            delays.append(watcher._poll_timer.interval())
            expected = (
                ConnectionState.OFFLINE
                if failures == FAILURES_BEFORE_OFFLINE
                else ConnectionState.RECONNECTING
            )
            assert watcher.session.state is expected
        assert states == [ConnectionState.RECONNECTING, ConnectionState.OFFLINE]
        # 150, 300, then 600 ms (the cap) each time, each give or take a fifth (jitter); never the
        # minute of the interval while the server is away.
        wanted = [150, 300, 600, 600, 600]
        assert all(0.8 * w <= d <= 1.2 * w for d, w in zip(delays, wanted, strict=True)), delays
    finally:
        close_services(gone)


def test_a_minimized_window_polls_rarely_and_polls_at_once_when_restored(
    qtbot: QtBot, make_watcher: Callable[..., ChangeWatcher]
) -> None:
    watcher = make_watcher(interval_ms=8000, listen=False)
    with qtbot.waitSignal(watcher.session.refreshed, timeout=WAIT_MS):
        watcher.start()
    qtbot.waitUntil(lambda: watcher._task is None and watcher._poll_timer.isActive(), timeout=WAIT_MS)
    assert watcher._poll_timer.interval() == 8000
    watcher.set_minimized(True)
    assert watcher._poll_timer.interval() == 5 * 8000
    watcher.fixed_interval_ms = 1000
    watcher.reschedule()
    assert watcher._poll_timer.interval() == MINIMIZED_MIN_MS  # 5 × 1 s, but never below
    with qtbot.waitSignal(watcher.session.refreshed, timeout=1000):  # not 30 s later
        watcher.set_minimized(False)
    qtbot.waitUntil(lambda: watcher._task is None, timeout=WAIT_MS)
    assert watcher._poll_timer.interval() == 1000


# -- two app windows -----------------------------------------------------------------------------


def test_two_windows_see_each_others_changes_keeping_selection_scroll_and_the_open_editor(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff, database_url: str
) -> None:
    _add_items(database_url, 300)
    admin = open_window(staff.admin, "inventory")
    manager = open_window(staff.manager, "inventory")
    admin_page, manager_page = _inventory(admin), _inventory(manager)
    for page in (admin_page, manager_page):
        _loaded(qtbot, page)
    view, model = admin_page.grid.view, admin_page.grid.model
    deep = 250  # sorted by name: "Item 0251"
    view.scrollTo(model.index(deep, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
    qtbot.waitUntil(lambda: model.record(deep) is not None, timeout=WAIT_MS)
    view.selectRow(deep)
    item: InventoryRow = model.record(deep)
    assert item.name == "Item 0251"
    scrolled = view.verticalScrollBar().value()
    assert scrolled > 0

    # The admin starts editing the item; the manager saves a new price for it in their window.
    admin_editor = _editor(qtbot, admin_page, item)
    admin_editor.name.setFocus()
    QTest.keyClicks(admin_editor.name, " (gift)")
    manager_editor = _editor(qtbot, manager_page, services.inventory.get_item(staff.manager, item.id))
    manager_editor.price.setText("19.99")
    manager_editor.save_button.click()
    qtbot.waitUntil(lambda: not manager_editor.isVisible(), timeout=WAIT_MS)
    saved = time.monotonic()

    qtbot.waitUntil(lambda: model.record(deep).price == Decimal("19.99"), timeout=INTERVAL_MS + SLACK_MS)
    assert time.monotonic() - saved < (INTERVAL_MS + SLACK_MS) / 1000
    assert view.currentIndex().row() == deep and admin_page.current == model.record(deep)
    assert [r.id for r in admin_page.grid.selected_records()] == [item.id]
    assert view.verticalScrollBar().value() == scrolled

    # The open editor says so, keeps what the admin typed, and a save compares both versions.
    qtbot.waitUntil(lambda: admin_editor.status.text() == CHANGED_UNDERNEATH, timeout=WAIT_MS)
    assert admin_editor.isVisible()
    assert (admin_editor.name.text(), admin_editor.price.text()) == ("Item 0251 (gift)", "10.00")
    admin_editor.save_button.click()
    qtbot.waitUntil(
        lambda: admin_editor.conflict_dialog is not None and admin_editor.conflict_dialog.isVisible(),
        timeout=WAIT_MS,
    )
    assert admin_editor.conflict_dialog is not None
    assert admin_editor.conflict_dialog.changes() == (["Price"], ["Name"])


def test_an_untouched_editor_takes_the_new_values_and_a_stock_movement_is_no_news(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff, database_url: str
) -> None:
    from ecomdesk.db.models import MovementKind
    from ecomdesk.services.stock import Adjustment

    _add_items(database_url, 1)
    window = open_window(staff.admin, "inventory")
    page = _inventory(window)
    _loaded(qtbot, page)
    item: InventoryRow = page.grid.model.record(0)
    editor = _editor(qtbot, page, item)
    with qtbot.waitSignal(window.session.changes_seen, timeout=INTERVAL_MS + SLACK_MS):
        services.stock.adjust(staff.manager, item.id, Adjustment(MovementKind.RECEIVE, 4, "delivery"))
    qtbot.waitUntil(lambda: editor.levels is not None and "Stock 7" in editor.levels.text(), timeout=WAIT_MS)
    assert editor.status.text() == ""  # a save would not conflict: nothing to say
    _price(services, staff, services.inventory.get_item(staff.admin, item.id), "12.00")
    qtbot.waitUntil(lambda: editor.status.text() == TAKEN_THEIRS, timeout=INTERVAL_MS + SLACK_MS)
    assert editor.price.text() == "12.00"
    editor.name.setText("Renamed here")
    editor.save_button.click()  # based on their version now: no conflict
    qtbot.waitUntil(lambda: not editor.isVisible(), timeout=WAIT_MS)
    saved = services.inventory.get_item(staff.admin, item.id)
    assert (saved.name, saved.price) == ("Renamed here", Decimal("12.00"))
    # Closed (its page keeps it), the editor no longer follows the item: nor its own save, nor later changes.
    with qtbot.waitSignal(window.session.changes_seen, timeout=INTERVAL_MS + SLACK_MS):
        _price(services, staff, saved, "13.00")
    qtbot.waitUntil(lambda: window.session.runner.pending == 0, timeout=WAIT_MS)
    assert (editor.status.text(), editor.price.text()) == ("Saving…", "12.00")


def test_an_item_deleted_under_an_open_editor_says_so_and_cannot_be_saved(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    fields = ItemFields("GONE-1", "Short-lived", "Home", "Acme", Decimal("5.00"), Decimal("2.00"))
    item = services.inventory.create_item(staff.manager, fields)  # no stock: deleting really deletes
    window = open_window(staff.admin, "inventory")
    page = _inventory(window)
    _loaded(qtbot, page)
    editor = _editor(qtbot, page, item)
    QTest.keyClicks(editor.name, " (typed)")
    assert editor.save_button.isEnabled()
    services.inventory.delete_item(staff.manager, item.id)
    qtbot.waitUntil(lambda: editor.status.text() == DELETED_UNDERNEATH, timeout=INTERVAL_MS + SLACK_MS)
    assert not editor.save_button.isEnabled()
    assert editor.name.text() == "Short-lived (typed)"


def test_a_conflict_met_by_saving_is_not_told_again_when_the_change_arrives_later(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff, database_url: str
) -> None:
    _add_items(database_url, 1)
    window = open_window(staff.admin, "inventory")
    page = _inventory(window)
    _loaded(qtbot, page)
    item: InventoryRow = page.grid.model.record(0)
    editor = _editor(qtbot, page, item)
    window.watcher.stop()  # the save meets their change before this app has seen it
    _price(services, staff, item, "12.00")
    QTest.keyClicks(editor.name, " (typed)")
    editor.save_button.click()
    qtbot.waitUntil(lambda: editor.conflict_dialog is not None, timeout=WAIT_MS)
    assert editor.conflict_dialog is not None
    editor.conflict_dialog.reject()  # back to the form, to think it over
    refused = editor.status.text()
    assert refused.startswith("Nothing was saved: someone else changed this item")
    with qtbot.waitSignal(window.session.changes_seen, timeout=WAIT_MS):
        window.watcher.start()
    qtbot.waitUntil(lambda: window.session.runner.pending == 0, timeout=WAIT_MS)
    assert editor.status.text() == refused
    assert editor.name.text() == "Item 0001 (typed)"


def test_a_bulk_change_that_names_no_rows_is_checked_against_the_open_editor(
    qtbot: QtBot, open_window: OpenWindow, database_url: str, staff: Staff
) -> None:
    _add_items(database_url, 600)  # more rows than the change log names one by one
    window = open_window(staff.admin, "inventory")
    page = _inventory(window)
    _loaded(qtbot, page)
    editor = _editor(qtbot, page, page.grid.model.record(0))
    QTest.keyClicks(editor.name, " (typed)")
    with qtbot.waitSignal(window.session.changes_seen, timeout=INTERVAL_MS + SLACK_MS) as seen:
        _plain_sql(database_url, "UPDATE inventory_items SET price = price + 1, version = version + 1")
    assert seen.args is not None and seen.args[0].rows("inventory_items") is None
    qtbot.waitUntil(lambda: editor.status.text() == CHANGED_UNDERNEATH, timeout=WAIT_MS)
    assert (editor.name.text(), editor.price.text()) == ("Item 0001 (typed)", "10.00")


def test_a_change_made_by_plain_sql_shows_in_an_open_window(
    qtbot: QtBot, open_window: OpenWindow, staff: Staff, database_url: str
) -> None:
    _add_items(database_url, 3)
    window = open_window(staff.viewer, "inventory")
    page = _inventory(window)
    _loaded(qtbot, page)
    assert page.grid.model.record(1).name == "Item 0002"
    _plain_sql(database_url, "UPDATE inventory_items SET name = 'Item 0002 by psql' WHERE sku = 'SKU-0002'")
    qtbot.waitUntil(
        lambda: page.grid.model.record(1).name == "Item 0002 by psql", timeout=INTERVAL_MS + SLACK_MS
    )


# -- users -----------------------------------------------------------------------------------------


def test_an_account_editor_notices_someone_elses_edit_but_not_a_sign_in(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff, clock: FakeClock
) -> None:
    window = open_window(staff.admin, "users")
    viewer: UserRecord = services.users.get_user(staff.admin, staff.viewer.user_id)
    dialog = UserDialog(window.session, viewer, window)
    dialog.open()
    qtbot.waitUntil(lambda: dialog.save_button.isEnabled(), timeout=WAIT_MS)
    QTest.keyClicks(dialog.phone, "+49 30 555")

    def watched(batch: ChangeBatch) -> bool:
        return str(viewer.id) in (batch.rows("users") or ())

    clock.advance(minutes=5)
    seen = window.session.changes_seen
    with qtbot.waitSignal(seen, check_params_cb=watched, timeout=INTERVAL_MS + SLACK_MS):
        services.auth.authenticate(viewer.email, PASSWORD)  # its last sign-in time changes
    qtbot.waitUntil(lambda: window.session.runner.pending == 0, timeout=WAIT_MS)
    assert dialog.status.text() == "" and dialog.reload_button.isHidden()

    services.users.update_user(  # another administrator, elsewhere
        staff.admin,
        viewer.id,
        UserFields(viewer.email, viewer.first_name, "Renamed", viewer.role_id, viewer.phone, viewer.address),
    )
    qtbot.waitUntil(lambda: dialog.status.text() == ACCOUNT_CHANGED, timeout=INTERVAL_MS + SLACK_MS)
    assert not dialog.reload_button.isHidden()
    assert (dialog.phone.text(), dialog.last_name.text()) == ("+49 30 555", viewer.last_name)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Nothing was saved."), timeout=WAIT_MS)
    assert "changed by someone else" in dialog.status.text() and not dialog.reload_button.isHidden()
    assert services.users.get_user(staff.admin, viewer.id).phone is None


def test_a_refused_account_save_keeps_its_sentence_when_the_change_arrives_later(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    window = open_window(staff.admin, "users")
    viewer: UserRecord = services.users.get_user(staff.admin, staff.viewer.user_id)
    dialog = UserDialog(window.session, viewer, window)
    dialog.open()
    qtbot.waitUntil(lambda: dialog.save_button.isEnabled(), timeout=WAIT_MS)
    window.watcher.stop()  # the save meets their change before this app has seen it
    fields = UserFields(viewer.email, viewer.first_name, "Renamed", viewer.role_id, None, None)
    services.users.update_user(staff.admin, viewer.id, fields)
    QTest.keyClicks(dialog.phone, "+49 30 555")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Nothing was saved."), timeout=WAIT_MS)
    refused = dialog.status.text()
    with qtbot.waitSignal(window.session.changes_seen, timeout=WAIT_MS):
        window.watcher.start()
    qtbot.waitUntil(lambda: window.session.runner.pending == 0, timeout=WAIT_MS)
    assert dialog.status.text() == refused and not dialog.reload_button.isHidden()
    assert dialog.phone.text() == "+49 30 555"


# -- rights and sign-ins -------------------------------------------------------------------------


def _take_from_manager(services: Services, staff: Staff, *permissions: str) -> None:
    [role] = [r for r in services.roles.list_roles(staff.admin) if r.name == "manager"]
    services.roles.update_role(
        staff.admin, role.id, name=role.name, permissions=role.permissions - set(permissions)
    )


def test_a_permission_taken_away_rebuilds_the_managers_pages_within_one_poll(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    window = open_window(staff.manager, "inventory")
    before = _inventory(window)
    assert before.new_action.isEnabled()
    with qtbot.waitSignal(window.session.actor_changed, timeout=INTERVAL_MS + SLACK_MS):
        _take_from_manager(services, staff, "inventory.write")
    assert window.session.actor.permissions == staff.manager.permissions - {"inventory.write"}
    page = _inventory(window)  # still the page shown, built anew for the new rights
    assert page is not before
    assert not page.new_action.isEnabled() and not page.edit_action.isEnabled()
    assert window.messages.message is not None and window.messages.message.title == "Your rights changed"

    with qtbot.waitSignal(window.session.actor_changed, timeout=INTERVAL_MS + SLACK_MS):
        _take_from_manager(services, staff, "inventory.write", "inventory.read")
    assert "inventory" not in window.page_keys()
    assert window.current_key == window.page_keys()[0]


def test_with_a_dialog_open_the_rebuild_waits_until_it_is_closed(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    window = open_window(staff.manager, "inventory")
    profile = window.open_profile()
    qtbot.waitUntil(lambda: profile.isVisible(), timeout=WAIT_MS)
    with qtbot.waitSignal(window.session.actor_changed, timeout=INTERVAL_MS + SLACK_MS):
        _take_from_manager(services, staff, "inventory.read")
    qtbot.wait(300)
    assert "inventory" in window.page_keys() and profile.isVisible()  # nothing moved under the dialog
    profile.reject()
    qtbot.waitUntil(lambda: "inventory" not in window.page_keys(), timeout=3000)


def test_a_revoked_sign_in_ends_the_window_within_one_poll(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    till = services.auth.authenticate(staff.manager.email, PASSWORD, remember=True, device_name="Till").actor
    assert till.session_id is not None
    window = open_window(till, "inventory")
    with qtbot.waitSignal(window.signed_out_elsewhere, timeout=INTERVAL_MS + SLACK_MS) as ended:
        services.auth.revoke_session(staff.admin, till.session_id)
    assert ended.args == ["This sign-in has ended (signed out or revoked). Please sign in again."]
    assert not window.watcher.running


def test_a_deactivated_account_ends_the_window_within_one_poll(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    window = open_window(staff.manager)
    with qtbot.waitSignal(window.signed_out_elsewhere, timeout=INTERVAL_MS + SLACK_MS) as ended:
        services.users.set_active(staff.admin, staff.manager.user_id, False)
    assert ended.args == ["Your account is no longer active. Please sign in again."]
    assert not window.watcher.running


def test_an_unrelated_change_to_another_account_changes_nothing_for_the_signed_in_user(
    qtbot: QtBot, open_window: OpenWindow, services: Services, staff: Staff
) -> None:
    window = open_window(staff.manager)
    changed: list[Actor] = []
    window.session.actor_changed.connect(changed.append)
    with qtbot.waitSignal(window.session.changes_seen, timeout=INTERVAL_MS + SLACK_MS):
        services.users.set_active(staff.admin, staff.viewer.user_id, False)
    qtbot.waitUntil(lambda: window.session.runner.pending == 0, timeout=WAIT_MS)
    assert changed == [] and window.watcher.running
    assert window.session.actor == staff.manager
