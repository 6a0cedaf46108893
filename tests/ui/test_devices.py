"""Remembered devices: one's own listed with this computer marked, revoking one or all of them (this
computer only after a warning), an administrator doing the same for someone else, and everyone else
kept from another person's devices without the service being asked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
import shiboken6
from PySide6.QtCore import QDate, QDateTime, QLocale, Qt, QTime
from PySide6.QtWidgets import QMessageBox, QTreeWidgetItem
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from ecomdesk.services.auth import DeviceSessionInfo
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import AuthenticationError
from ecomdesk.services.registry import Services
from ecomdesk.ui.devices import EMPTY_TEXT, NOT_ALLOWED_TEXT, DevicesView
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import PASSWORD, FakeClock, Staff

OpenView = Callable[..., DevicesView]


@pytest.fixture
def open_view(qtbot: QtBot, services: Services, runner: TaskRunner) -> Iterator[OpenView]:
    """A shown view for `actor` (on `on`, the services, when given), its first list loaded."""
    sessions: list[AppSession] = []
    views: list[DevicesView] = []

    def open_(actor: Actor, user_id: int | None = None, *, on: Services | None = None) -> DevicesView:
        session = AppSession(on or services, actor, runner, database_label="the test shop")
        sessions.append(session)
        view = DevicesView(session, user_id)
        qtbot.addWidget(view)
        views.append(view)  # (qtbot holds widgets weakly)
        view.resize(720, 300)
        view.show()
        qtbot.waitUntil(lambda: not view.loading, timeout=15_000)
        return view

    yield open_
    for session in sessions:
        shiboken6.delete(session.theme)


def _remember(services: Services, email: str, device: str) -> Actor:
    """Sign in with “Remember me” on a device; the actor runs on that device's session."""
    actor = services.auth.authenticate(email, PASSWORD, remember=True, device_name=device).actor
    assert actor.session_id is not None
    return actor


def _rows(view: DevicesView) -> list[QTreeWidgetItem]:
    items = [view.tree.topLevelItem(i) for i in range(view.tree.topLevelItemCount())]
    return [item for item in items if item is not None]


def _names(view: DevicesView) -> list[str]:
    return [item.text(0) for item in _rows(view)]


def _select(view: DevicesView, name: str) -> None:
    [item] = [item for item in _rows(view) if item.text(0) == name]
    view.tree.setCurrentItem(item)


def _all_sessions(services: Services, admin: Actor, user_id: int) -> list[DeviceSessionInfo]:
    return services.auth.list_sessions(admin, user_id, include_ended=True)


def _local_short(when: dt.datetime) -> str:
    """The person's local time in their locale's short format (ISO 8601 under the "C" locale, which
    has no format of its own), worked out without the app's code."""
    local = when.astimezone()
    if QLocale().language() == QLocale.Language.C:
        return local.strftime("%Y-%m-%d %H:%M")
    moment = QDateTime(QDate(local.year, local.month, local.day), QTime(local.hour, local.minute))
    return QLocale().toString(moment, QLocale.FormatType.ShortFormat)


def _confirm(qtbot: QtBot, view: DevicesView, button: QMessageBox.StandardButton) -> str:
    """Answer the open confirmation; returns what it said."""
    qtbot.waitUntil(lambda: view.confirmation is not None and view.confirmation.isVisible())
    box = view.confirmation
    assert box is not None
    text = box.text()
    box.button(button).click()
    return text


# -- one's own ---------------------------------------------------------------------------------


def test_own_devices_are_listed_in_local_time_with_this_computer_marked(
    open_view: OpenView, services: Services, staff: Staff, clock: FakeClock
) -> None:
    here = _remember(services, staff.manager.email, "Office PC")
    clock.advance(hours=1)
    _remember(services, staff.manager.email, "Till 2")
    _remember(services, staff.viewer.email, "Someone else's laptop")
    view = open_view(here)
    assert _names(view) == ["Till 2", "Office PC — this computer"]  # most recently used first
    till, office = _rows(view)
    assert [till.text(column) for column in (1, 2)] == [_local_short(clock.now)] * 2
    assert office.text(1) == _local_short(clock.now - dt.timedelta(hours=1))
    assert office.text(3) == _local_short(clock.now - dt.timedelta(hours=1) + dt.timedelta(days=30))
    assert office.font(0).bold() and not till.font(0).bold()
    assert view.tree.headerItem().text(2) == "Last used"
    assert view.stack.currentWidget() is view.tree
    assert view.revoke_all_button.isEnabled() and not view.revoke_button.isEnabled()  # nothing selected


def test_dates_sort_as_dates_not_as_text(
    open_view: OpenView, services: Services, staff: Staff, clock: FakeClock
) -> None:
    # As text, "10:00 AM" sorts before "9:00 AM", and "01/12" (1 December) before "27/11".
    for name, when in (
        ("First", dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC)),
        ("Second", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("Third", dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)),
    ):
        clock.now = when
        _remember(services, staff.manager.email, name)
    view = open_view(staff.manager)
    view.tree.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    assert _names(view) == ["First", "Second", "Third"]
    view.tree.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert _names(view) == ["Third", "Second", "First"]


def test_without_remembered_devices_the_view_says_where_they_come_from(
    open_view: OpenView, staff: Staff
) -> None:
    view = open_view(staff.viewer)
    assert view.tree.topLevelItemCount() == 0
    assert view.stack.currentWidget() is view.placeholder
    assert view.placeholder.text() == EMPTY_TEXT
    assert not view.revoke_all_button.isEnabled()


def test_revoking_a_device_removes_it_from_the_list_and_ends_it_in_the_database(
    qtbot: QtBot, open_view: OpenView, services: Services, staff: Staff
) -> None:
    here = _remember(services, staff.manager.email, "Office PC")
    till = _remember(services, staff.manager.email, "Till 2")
    view = open_view(here)
    _select(view, "Till 2")
    assert view.revoke_button.isEnabled()
    with qtbot.waitSignal(view.changed, timeout=15_000):
        view.revoke_button.click()  # another computer: no question asked
    qtbot.waitUntil(lambda: _names(view) == ["Office PC — this computer"], timeout=15_000)
    assert view.status.text() == "Signed out “Till 2”."
    ended = {s.device_name: s.revoked_at for s in _all_sessions(services, staff.admin, here.user_id)}
    assert ended["Till 2"] is not None and ended["Office PC"] is None
    with pytest.raises(AuthenticationError):
        services.users.get_user(till, till.user_id)


def test_revoking_this_computer_asks_first_and_cancel_keeps_it(
    qtbot: QtBot, open_view: OpenView, services: Services, staff: Staff
) -> None:
    here = _remember(services, staff.manager.email, "Office PC")
    view = open_view(here)
    _select(view, "Office PC — this computer")
    view.revoke_button.click()
    text = _confirm(qtbot, view, QMessageBox.StandardButton.Cancel)
    assert "This computer will be signed out at its next step" in text
    assert services.users.get_user(here, here.user_id).email == staff.manager.email  # still signed in
    assert _names(view) == ["Office PC — this computer"]


def test_revoking_this_computer_after_the_warning_ends_this_apps_sign_in(
    qtbot: QtBot, open_view: OpenView, services: Services, staff: Staff
) -> None:
    here = _remember(services, staff.manager.email, "Office PC")
    Preferences().confirm_delete = False  # this computer is always asked about
    view = open_view(here)
    _select(view, "Office PC — this computer")
    view.revoke_button.click()
    with qtbot.waitSignal(view.changed, timeout=15_000):
        _confirm(qtbot, view, QMessageBox.StandardButton.Yes)
    assert view.tree.topLevelItemCount() == 0
    assert "This computer will be signed out at its next step." in view.status.text()
    with pytest.raises(AuthenticationError):  # what makes the main window sign out
        services.users.get_user(here, here.user_id)


def test_sign_out_everywhere_ends_every_device_after_a_confirmation(
    qtbot: QtBot, open_view: OpenView, services: Services, staff: Staff
) -> None:
    here = _remember(services, staff.manager.email, "Office PC")
    _remember(services, staff.manager.email, "Till 2")
    _remember(services, staff.viewer.email, "Someone else's laptop")
    view = open_view(here)
    view.revoke_all_button.click()
    with qtbot.waitSignal(view.changed, timeout=15_000):
        text = _confirm(qtbot, view, QMessageBox.StandardButton.Yes)
    assert "(2 devices)" in text and "This computer will be signed out" in text
    assert view.tree.topLevelItemCount() == 0
    assert all(s.revoked_at is not None for s in _all_sessions(services, staff.admin, here.user_id))
    [other] = _all_sessions(services, staff.admin, staff.viewer.user_id)
    assert other.revoked_at is None


# -- someone else's ----------------------------------------------------------------------------


def test_an_admin_sees_and_revokes_another_users_device(
    qtbot: QtBot, open_view: OpenView, services: Services, staff: Staff
) -> None:
    _remember(services, staff.manager.email, "Till 2")
    _remember(services, staff.manager.email, "Back office")
    view = open_view(staff.admin)
    view.set_user(staff.manager.user_id, "Max Manager")
    assert view.tree.topLevelItemCount() == 0  # the admin's own list is gone at once
    qtbot.waitUntil(lambda: not view.loading, timeout=15_000)
    assert sorted(_names(view)) == ["Back office", "Till 2"]  # nobody's “this computer”
    assert "Max Manager" in view.caption.text()
    _select(view, "Till 2")
    with qtbot.waitSignal(view.changed, timeout=15_000):
        view.revoke_button.click()
    qtbot.waitUntil(lambda: _names(view) == ["Back office"], timeout=15_000)
    ended = {s.device_name: s.revoked_at for s in _all_sessions(services, staff.admin, staff.manager.user_id)}
    assert ended["Till 2"] is not None and ended["Back office"] is None


def test_an_admin_signs_someone_out_everywhere_without_a_question_when_confirmations_are_off(
    qtbot: QtBot, open_view: OpenView, services: Services, staff: Staff
) -> None:
    _remember(services, staff.viewer.email, "Till 2")
    _remember(services, staff.viewer.email, "Till 3")
    Preferences().confirm_delete = False
    view = open_view(staff.admin, staff.viewer.user_id)
    with qtbot.waitSignal(view.changed, timeout=15_000):
        view.revoke_all_button.click()
    assert view.confirmation is None
    qtbot.waitUntil(lambda: view.stack.currentWidget() is view.placeholder, timeout=15_000)
    assert view.placeholder.text() == EMPTY_TEXT
    assert view.status.text() == "Signed out 2 devices."
    assert all(s.revoked_at is not None for s in _all_sessions(services, staff.admin, staff.viewer.user_id))


def test_a_manager_looking_at_someone_else_gets_a_hint_and_the_service_is_never_asked(
    qtbot: QtBot, open_view: OpenView, services: Services, staff: Staff, runner: TaskRunner
) -> None:
    _remember(services, staff.viewer.email, "Till 2")
    view = open_view(staff.manager)  # (own devices: allowed, and loaded)
    qtbot.waitUntil(lambda: runner.pending == 0)  # (the finished task is forgotten just after its result)
    view.set_user(staff.viewer.user_id, "Vic Viewer")
    assert runner.pending == 0 and not view.loading  # nothing was submitted
    assert view.tree.topLevelItemCount() == 0
    assert view.stack.currentWidget() is view.placeholder and view.placeholder.isVisible()
    assert view.placeholder.text() == NOT_ALLOWED_TEXT
    assert "sessions.manage" in view.placeholder.toolTip()
    assert view.revoke_button.isHidden() and view.revoke_all_button.isHidden()
    view.refresh()
    assert runner.pending == 0
    view.set_user(None)  # back to their own: allowed again
    assert not view.revoke_all_button.isHidden() and view.loading


def test_only_the_latest_selection_counts(
    qtbot: QtBot, open_view: OpenView, services: Services, staff: Staff
) -> None:
    _remember(services, staff.manager.email, "Manager's till")
    _remember(services, staff.viewer.email, "Viewer's till")
    view = open_view(staff.admin)
    view.set_user(staff.manager.user_id, "Max Manager")
    view.set_user(staff.viewer.user_id, "Vic Viewer")
    qtbot.waitUntil(lambda: not view.loading, timeout=15_000)
    assert _names(view) == ["Viewer's till"]


def test_a_read_only_copy_lists_devices_but_offers_no_revoking(
    open_view: OpenView, services: Services, staff: Staff, engine: Engine, clock: FakeClock
) -> None:
    here = _remember(services, staff.manager.email, "Office PC")
    read_only = Services.from_context(ServiceContext(engine, read_only=True, clock=clock))
    view = open_view(here, on=read_only)
    _select(view, "Office PC — this computer")
    assert not view.revoke_button.isEnabled() and not view.revoke_all_button.isEnabled()
    assert "read-only" in view.revoke_all_button.toolTip()
