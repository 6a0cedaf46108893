"""The roles page: a permission × role matrix on the real database. Ticks stay pending until Save,
which says in words what changed; the admin column and rights the user lacks are locked; a refused
save keeps the ticks; custom roles are created, renamed and deleted through the service's guards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMainWindow, QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine

from ecomdesk.db.catalog import PERMISSIONS
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.registry import Services
from ecomdesk.services.roles import RoleInfo
from ecomdesk.ui.pages.role_dialogs import RoleDialog
from ecomdesk.ui.pages.role_matrix import (
    ADMIN_LOCKED,
    CODE_COLUMN,
    DESCRIPTION_COLUMN,
    PendingRole,
    PermissionMatrixModel,
)
from ecomdesk.ui.pages.roles import (
    BUILTIN_KEPT,
    BUILTIN_NAME,
    RolesPage,
)
from ecomdesk.ui.preferences import Preferences, ThemeMode
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from ecomdesk.ui.theme import ThemeManager, tint
from tests.services.conftest import MakeUser, Staff

WAIT_MS = 15_000
OpenPage = Callable[..., RolesPage]


@pytest.fixture
def open_page(qtbot: QtBot, services: Services, runner: TaskRunner) -> Iterator[OpenPage]:
    """The page in a main window of its own (as the app shows it), loaded from the database."""
    windows: list[QMainWindow] = []
    sessions: list[AppSession] = []

    def open_(actor: Actor, *, with_services: Services | None = None) -> RolesPage:
        session = AppSession(with_services or services, actor, runner, database_label="test")
        sessions.append(session)
        page = RolesPage(session)
        window = QMainWindow()
        window.setCentralWidget(page)
        window.resize(1100, 700)
        qtbot.addWidget(window)
        windows.append(window)  # (qtbot holds widgets weakly)
        window.show()
        page.page_shown()
        qtbot.waitUntil(lambda: page.loaded, timeout=WAIT_MS)
        return page

    yield open_
    for session in sessions:
        shiboken6.delete(session.theme)  # a live manager would follow the desktop in later tests


def _db_role(services: Services, actor: Actor, name: str) -> RoleInfo:
    return next(role for role in services.roles.list_roles(actor) if role.name == name)


def _cell(page: RolesPage, code: str, role: str) -> QModelIndex:
    info = next(r for r in page.model.roles if r.name == role)
    index = page.model.index_of(code, info.id)
    assert index.isValid()
    return index


def _checked(page: RolesPage, code: str, role: str) -> bool:
    return bool(_cell(page, code, role).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked)


def _click_box(page: RolesPage, index: QModelIndex) -> None:
    """A left click in the middle of the cell, where the delegate draws its check box."""
    page.view.scrollTo(index)
    rect = page.view.visualRect(index)
    QTest.mouseClick(
        page.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center()
    )


def _heading(page: RolesPage, role: str, data_role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> str:
    info = next(r for r in page.model.roles if r.name == role)
    column = page.model.column_of(info.id)
    assert column is not None
    return str(page.model.headerData(column, Qt.Orientation.Horizontal, data_role))


def _heading_text(page: RolesPage, role: str) -> str:
    return _heading(page, role)


def _save(qtbot: QtBot, page: RolesPage) -> None:
    page.save_button.click()
    assert page.busy_saving
    qtbot.waitUntil(lambda: not page.busy_saving, timeout=WAIT_MS)


# -- what the matrix shows -----------------------------------------------------------------------


def test_the_matrix_shows_every_permission_in_words_and_every_role_with_its_holders_as_in_the_database(
    open_page: OpenPage, staff: Staff, make_user: MakeUser, services: Services
) -> None:
    make_user("viewer")  # two viewers now
    page = open_page(staff.admin)
    model = page.model
    assert [model.index(row, CODE_COLUMN).data() for row in range(model.rowCount())] == sorted(PERMISSIONS)
    assert [model.index(row, DESCRIPTION_COLUMN).data() for row in range(model.rowCount())] == [
        PERMISSIONS[code] for code in sorted(PERMISSIONS)
    ]
    assert model.index(0, DESCRIPTION_COLUMN).data(Qt.ItemDataRole.ToolTipRole) == (
        f"{PERMISSIONS['analytics.read']} (analytics.read)"
    )
    assert [role.name for role in model.roles] == ["admin", "manager", "viewer"]
    assert _heading_text(page, "admin") == "admin\n1 user"
    assert _heading_text(page, "viewer") == "viewer\n2 users"
    tip = _heading(page, "manager", Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("manager (1 user)\nRuns the shop: inventory, analytics, reports")
    for role in services.roles.list_roles(staff.admin):
        for code in PERMISSIONS:
            assert _checked(page, code, role.name) == (code in role.permissions), (role.name, code)
    assert not page.save_button.isEnabled() and not page.revert_button.isEnabled()


def test_ticking_and_unticking_then_saving_changes_the_role_and_says_in_words_what_changed(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    _click_box(page, _cell(page, "settings.manage", "manager"))
    _click_box(page, _cell(page, "reports.read", "manager"))
    assert _checked(page, "settings.manage", "manager") and not _checked(page, "reports.read", "manager")
    assert _cell(page, "settings.manage", "manager").data(PendingRole) is True
    assert _heading_text(page, "manager").startswith("manager *")
    assert page.save_button.isEnabled() and page.revert_button.isEnabled()
    assert page.status.text() == "Unsaved changes to manager: Save or Revert."
    assert "reports.read" in _db_role(services, staff.admin, "manager").permissions  # nothing saved yet

    _save(qtbot, page)
    assert page.status.kind == "success"
    assert page.status.text() == (
        "Saved. manager: may now “Change the shop's system settings”; "
        "may no longer “Open and download reports”."
    )
    saved = _db_role(services, staff.admin, "manager").permissions
    assert "settings.manage" in saved and "reports.read" not in saved
    assert not page.model.dirty and not page.save_button.isEnabled()
    assert _cell(page, "settings.manage", "manager").data(PendingRole) is False
    assert _heading_text(page, "manager") == "manager\n1 user"


def test_space_toggles_the_current_cell_and_ctrl_s_saves_every_changed_role(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    window = page.window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    page.view.setFocus()
    page.view.setCurrentIndex(_cell(page, "audit.read", "viewer"))
    QTest.keyClick(page.view, Qt.Key.Key_Space)
    assert _checked(page, "audit.read", "viewer")
    page.view.setCurrentIndex(_cell(page, "audit.read", "manager"))
    QTest.keyClick(page.view, Qt.Key.Key_Space)
    QTest.keyClick(page.view, Qt.Key.Key_Space)  # twice: back as saved, so manager is not changed
    QTest.keyClick(page.view, Qt.Key.Key_Space)
    assert [role.name for role, _wanted in page.model.pending_roles()] == ["manager", "viewer"]

    QTest.keyClick(page.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert page.busy_saving
    qtbot.waitUntil(lambda: not page.busy_saving, timeout=WAIT_MS)
    assert page.status.text() == (
        "Saved. manager: may no longer “See the activity log of every user”. "
        "viewer: may now “See the activity log of every user”."
    )
    assert "audit.read" not in _db_role(services, staff.admin, "manager").permissions
    assert "audit.read" in _db_role(services, staff.admin, "viewer").permissions


def test_the_admin_column_is_all_ticked_and_locked_and_clicking_it_changes_nothing(
    qtbot: QtBot, open_page: OpenPage, staff: Staff
) -> None:
    page = open_page(staff.admin)
    admin = page.model.roles[0]
    assert admin.locked
    for code in PERMISSIONS:
        cell = _cell(page, code, "admin")
        assert cell.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        assert not cell.flags() & Qt.ItemFlag.ItemIsUserCheckable
        assert cell.data(Qt.ItemDataRole.ToolTipRole) == ADMIN_LOCKED
    cell = _cell(page, "users.write", "admin")
    _click_box(page, cell)
    page.view.setCurrentIndex(cell)
    QTest.keyClick(page.view, Qt.Key.Key_Space)
    assert page.model.setData(cell, Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole) is False
    assert _checked(page, "users.write", "admin") and not page.model.dirty
    assert not page.save_button.isEnabled()
    # Clicking it did choose the column: built-in roles keep their names and stay.
    assert page.current_role == admin
    assert not page.rename_button.isEnabled() and page.rename_button.toolTip() == BUILTIN_NAME
    assert not page.delete_button.isEnabled() and page.delete_button.toolTip() == BUILTIN_KEPT


def test_a_role_manager_cannot_tick_a_right_they_do_not_hold_and_the_tooltip_says_why(
    open_page: OpenPage, staff: Staff, services: Services, make_user: MakeUser
) -> None:
    services.roles.create_role(
        staff.admin, "Role keeper", frozenset({"roles.manage", "inventory.read", "reports.read"})
    )
    keeper = make_user("Role keeper", email="kim@shop.example")
    page = open_page(keeper)
    assert page.limits.isVisibleTo(page)  # the page says why some boxes are grey
    locked = _cell(page, "settings.manage", "viewer")
    assert not locked.flags() & Qt.ItemFlag.ItemIsUserCheckable
    tip = locked.data(Qt.ItemDataRole.ToolTipRole)
    assert "Only someone who holds a right can give it or take it away." in tip
    assert "does not include “Change the shop's system settings” (settings.manage)" in tip
    _click_box(page, locked)
    assert not _checked(page, "settings.manage", "viewer") and not page.model.dirty
    # A right they hold can be handed out.
    held = _cell(page, "inventory.read", "Role keeper")
    assert held.flags() & Qt.ItemFlag.ItemIsUserCheckable
    _click_box(page, _cell(page, "reports.read", "viewer"))
    assert not _checked(page, "reports.read", "viewer") and page.model.dirty


def test_a_save_after_someone_else_changed_the_role_is_refused_keeps_the_ticks_and_reload_shows_theirs(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    viewer = _db_role(services, staff.admin, "viewer")
    services.roles.update_role(
        staff.admin, viewer.id, name="viewer", permissions=viewer.permissions | {"inventory.write"}
    )
    _click_box(page, _cell(page, "audit.read", "viewer"))
    _save(qtbot, page)
    assert page.status.kind == "error"
    assert page.status.text().startswith(
        "Nothing was saved. The role viewer was changed by someone else. Reload to see it."
    )
    assert "Your changes to viewer are still shown." in page.status.text()
    assert _checked(page, "audit.read", "viewer") and page.model.dirty  # the ticks are kept
    assert not _checked(page, "inventory.write", "viewer")  # as loaded, until Reload
    assert page.reload_button.isVisibleTo(page) and page.save_button.isEnabled()
    assert _db_role(services, staff.admin, "viewer").permissions == viewer.permissions | {"inventory.write"}

    page.reload_button.click()
    qtbot.waitUntil(lambda: _checked(page, "inventory.write", "viewer"), timeout=WAIT_MS)
    assert not _checked(page, "audit.read", "viewer") and page.model.pending_roles() == []
    assert not page.reload_button.isVisibleTo(page) and page.status.text() == ""


def test_saving_several_roles_reports_which_were_saved_and_keeps_the_failed_ones_ticks(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    viewer = _db_role(services, staff.admin, "viewer")
    services.roles.update_role(staff.admin, viewer.id, name="viewer", permissions=frozenset())
    _click_box(page, _cell(page, "settings.manage", "manager"))
    _click_box(page, _cell(page, "audit.read", "viewer"))
    _save(qtbot, page)
    text = page.status.text()
    assert text.startswith(
        "Saved. manager: may now “Change the shop's system settings”. Not saved: viewer. "
        "The role viewer was changed by someone else."
    )
    assert "settings.manage" in _db_role(services, staff.admin, "manager").permissions
    assert [role.name for role, _wanted in page.model.pending_roles()] == ["viewer"]
    assert _checked(page, "audit.read", "viewer") and _checked(page, "settings.manage", "manager")


def test_revert_drops_the_ticks_and_saves_nothing(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services, runner: TaskRunner
) -> None:
    page = open_page(staff.admin)
    before = _db_role(services, staff.admin, "manager")
    _click_box(page, _cell(page, "users.read", "manager"))
    assert not _checked(page, "users.read", "manager")
    page.revert_button.click()
    assert _checked(page, "users.read", "manager") and not page.model.dirty
    assert not page.save_button.isEnabled()
    qtbot.waitUntil(lambda: runner.pending == 0, timeout=WAIT_MS)
    assert _db_role(services, staff.admin, "manager") == before


def test_an_automatic_refresh_keeps_pending_ticks_and_otherwise_shows_others_changes(
    qtbot: QtBot,
    open_page: OpenPage,
    staff: Staff,
    services: Services,
    runner: TaskRunner,
    make_user: MakeUser,
) -> None:
    page = open_page(staff.admin)
    _click_box(page, _cell(page, "audit.read", "viewer"))
    services.roles.create_role(staff.admin, "Packer", frozenset({"inventory.read"}))
    page.refresh()
    qtbot.waitUntil(lambda: runner.pending == 0, timeout=WAIT_MS)
    assert _checked(page, "audit.read", "viewer") and page.model.dirty
    assert [role.name for role in page.model.roles] == ["admin", "manager", "viewer"]

    page.revert_button.click()  # nothing pending: the refresh shows what others did
    make_user("manager")
    qtbot.waitUntil(lambda: len(page.model.roles) == 4, timeout=WAIT_MS)
    page.view.setCurrentIndex(_cell(page, "users.read", "manager"))
    with qtbot.waitSignal(page.session.refreshed, timeout=WAIT_MS):  # the status bar's "Refreshed" time
        page.refresh()
    qtbot.waitUntil(lambda: _heading_text(page, "manager") == "manager\n2 users", timeout=WAIT_MS)
    assert page.view.currentIndex() == _cell(page, "users.read", "manager")  # updated in place


# -- create, rename, delete -----------------------------------------------------------------------


def _open_new_role_dialog(page: RolesPage) -> RoleDialog:
    page.new_button.click()
    dialog = page.dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def _submit(qtbot: QtBot, dialog: RoleDialog) -> None:
    dialog.ok_button.click()
    assert not dialog.ok_button.isEnabled()  # busy
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog) or dialog.ok_button.isEnabled(), timeout=WAIT_MS)


def test_a_new_role_without_a_name_is_refused_next_to_the_field_and_the_dialog_keeps_the_input(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    dialog = _open_new_role_dialog(page)
    dialog.name.setText("   ")
    dialog.description.setText("Packs parcels")
    _submit(qtbot, dialog)
    assert dialog.isVisible() and dialog.fields["name"].message == "Required."
    assert dialog.description.text() == "Packs parcels"
    assert len(services.roles.list_roles(staff.admin)) == 3


def test_a_new_role_with_a_taken_name_is_refused_next_to_the_field(
    qtbot: QtBot, open_page: OpenPage, staff: Staff
) -> None:
    page = open_page(staff.admin)
    dialog = _open_new_role_dialog(page)
    dialog.name.setText("Manager")
    _submit(qtbot, dialog)
    assert dialog.isVisible() and dialog.fields["name"].message == "Another role already has this name."
    assert dialog.name.text() == "Manager"


def test_a_new_role_starting_from_another_appears_as_a_column_with_its_rights(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    page = open_page(staff.admin)
    dialog = _open_new_role_dialog(page)
    dialog.name.setText("Packer")
    dialog.description.setText("Packs and ships parcels")
    assert dialog.start_from is not None
    dialog.start_from.setCurrentIndex(dialog.start_from.findText("viewer", Qt.MatchFlag.MatchStartsWith))
    dialog.ok_button.click()
    QTest.keyClick(dialog, Qt.Key.Key_Escape)  # the answer belongs in this dialog: it stays until then
    assert dialog.isVisible() and dialog.busy
    qtbot.waitUntil(lambda: page.dialog is None, timeout=WAIT_MS)
    assert [role.name for role in page.model.roles] == ["admin", "manager", "viewer", "Packer"]
    viewer = _db_role(services, staff.admin, "viewer")
    packer = _db_role(services, staff.admin, "Packer")
    assert packer.permissions == viewer.permissions and packer.description == "Packs and ships parcels"
    assert all(_checked(page, code, "Packer") == (code in viewer.permissions) for code in PERMISSIONS)
    assert _heading_text(page, "Packer") == "Packer\nno users"
    assert page.current_role == packer
    assert page.status.text() == "Created the role Packer."


def test_built_in_roles_cannot_be_renamed_and_a_custom_role_is_renamed_with_its_description(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    services.roles.create_role(staff.admin, "Packer", frozenset({"inventory.read"}), "Packs")
    page = open_page(staff.admin)
    assert not page.rename_button.isEnabled()  # no role chosen yet
    page.view.horizontalHeader().sectionClicked.emit(page.model.column_of(page.model.roles[1].id))
    assert page.rename_button.text() == "Rename manager…"
    assert not page.rename_button.isEnabled() and page.rename_button.toolTip() == BUILTIN_NAME

    page.view.setCurrentIndex(_cell(page, "users.read", "Packer"))
    assert page.rename_button.text() == "Rename Packer…" and page.rename_button.isEnabled()
    page.rename_button.click()
    dialog = page.dialog
    assert dialog is not None and dialog.name.text() == "Packer" and dialog.description.text() == "Packs"
    dialog.name.setText("Shipping")
    dialog.description.setText("Packs and ships parcels")
    _submit(qtbot, dialog)
    assert page.status.text() == "Renamed Packer to Shipping."
    renamed = _db_role(services, staff.admin, "Shipping")
    assert (renamed.description, renamed.permissions) == (
        "Packs and ships parcels",
        frozenset({"inventory.read"}),
    )
    assert _heading_text(page, "Shipping") == "Shipping\nno users"
    assert page.rename_button.text() == "Rename Shipping…"


def test_renaming_keeps_the_roles_pending_ticks_pending(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    services.roles.create_role(staff.admin, "Packer", frozenset({"inventory.read"}))
    page = open_page(staff.admin)
    _click_box(page, _cell(page, "inventory.adjust", "Packer"))
    page.rename_button.click()
    dialog = page.dialog
    assert dialog is not None
    dialog.name.setText("Shipping")
    _submit(qtbot, dialog)
    assert _db_role(services, staff.admin, "Shipping").permissions == frozenset({"inventory.read"})
    assert _checked(page, "inventory.adjust", "Shipping") and page.model.dirty
    _save(qtbot, page)
    assert (
        page.status.text() == "Saved. Shipping: may now “Receive, ship, correct, reserve and release stock”."
    )


def test_deleting_a_role_someone_holds_says_why_not_and_the_role_stays(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services, make_user: MakeUser
) -> None:
    services.roles.create_role(staff.admin, "Packer", frozenset({"inventory.read"}))
    make_user("Packer")
    Preferences().confirm_delete = False
    page = open_page(staff.admin)
    page.set_current_role(_db_role(services, staff.admin, "Packer").id)
    assert page.delete_button.text() == "Delete Packer…" and page.delete_button.isEnabled()
    page.delete_button.click()
    qtbot.waitUntil(lambda: page.status.kind == "error", timeout=WAIT_MS)
    assert (
        page.status.text()
        == "Packer was not deleted. 1 user holds the role Packer: give them another role first."
    )
    assert "Packer" in [role.name for role in page.model.roles]
    assert "Packer" in [role.name for role in services.roles.list_roles(staff.admin)]


def test_deleting_an_unused_custom_role_after_confirming_removes_its_column(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services
) -> None:
    services.roles.create_role(staff.admin, "Packer", frozenset({"inventory.read"}))
    page = open_page(staff.admin)
    page.set_current_role(_db_role(services, staff.admin, "Packer").id)
    page.delete_button.click()
    box = page.confirmation
    assert box is not None and box.isVisible() and "Delete the role Packer?" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: page.status.text() == "Deleted the role Packer.", timeout=WAIT_MS)
    assert [role.name for role in page.model.roles] == ["admin", "manager", "viewer"]
    assert [role.name for role in services.roles.list_roles(staff.admin)] == ["admin", "manager", "viewer"]
    # The current cell moved to the neighbouring column, a built-in role: nothing to delete now.
    assert page.delete_button.text() == "Delete viewer…" and not page.delete_button.isEnabled()


def test_cancelling_the_delete_confirmation_keeps_the_role(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, services: Services, runner: TaskRunner
) -> None:
    services.roles.create_role(staff.admin, "Packer", frozenset())
    page = open_page(staff.admin)
    page.set_current_role(_db_role(services, staff.admin, "Packer").id)
    page.delete_button.click()
    box = page.confirmation
    assert box is not None
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert page.confirmation is None
    qtbot.waitUntil(lambda: runner.pending == 0, timeout=WAIT_MS)
    assert len(page.model.roles) == 4 and page.status.text() == ""
    assert "Packer" in [role.name for role in services.roles.list_roles(staff.admin)]


# -- who may change what ---------------------------------------------------------------------------


def test_a_read_only_copy_shows_the_matrix_and_offers_no_change_at_all(
    open_page: OpenPage, staff: Staff, engine: Engine
) -> None:
    read_only = Services.from_context(ServiceContext(engine, read_only=True))
    page = open_page(staff.admin, with_services=read_only)
    assert page.model.rowCount() == len(PERMISSIONS) and len(page.model.roles) == 3
    buttons = (page.new_button, page.rename_button, page.delete_button, page.save_button, page.revert_button)
    assert not any(button.isVisibleTo(page) for button in buttons)
    cell = _cell(page, "audit.read", "viewer")
    assert not cell.flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert cell.data(Qt.ItemDataRole.ToolTipRole) == "This is a read-only copy: nothing can be changed here."
    _click_box(page, cell)
    assert not page.model.dirty


# -- the model and the looks -------------------------------------------------------------------------


def test_the_permission_matrix_model_passes_qt_model_tester_through_edits_and_new_roles(
    qtmodeltester: Any,
    services: Services,
    staff: Staff,  # (pytest-qt's tester is untyped)
) -> None:
    model = PermissionMatrixModel(staff.admin, read_only=False)
    model.show(services.roles.list_permissions(staff.admin), services.roles.list_roles(staff.admin))
    qtmodeltester.check(model)
    viewer = model.roles[2]
    assert model.set_granted(viewer.id, "audit.read", True)
    packer = services.roles.create_role(staff.admin, "Packer", frozenset({"inventory.read"}))
    model.insert_role(packer)
    model.show(services.roles.list_permissions(staff.admin), services.roles.list_roles(staff.admin))
    model.remove_role(packer.id)
    model.revert()
    qtmodeltester.check(model)


def _pixel(page: RolesPage, index: QModelIndex) -> QColor:
    """The colour near the cell's left edge (beside the centred box), as painted."""
    rect = page.view.visualRect(index)
    image = page.view.viewport().grab().toImage()
    return image.pixelColor(QPoint(rect.left() + 3, rect.center().y()))


@pytest.mark.parametrize("mode", [ThemeMode.LIGHT, ThemeMode.DARK])
def test_pending_cells_are_tinted_in_the_warning_hue_of_each_theme(
    qtbot: QtBot, open_page: OpenPage, staff: Staff, mode: ThemeMode, tmp_path_factory: pytest.TempPathFactory
) -> None:
    theme = ThemeManager(Preferences())
    try:
        theme.set_mode(mode)
        page = open_page(staff.admin)
        cell = _cell(page, "audit.read", "viewer")
        _click_box(page, cell)
        page.view.setCurrentIndex(_cell(page, "users.read", "manager"))  # the tinted cell is not selected
        expected = tint(page.view.palette(), "warning")[0]
        painted = _pixel(page, cell)
        assert abs(painted.red() - expected.red()) <= 2 and abs(painted.blue() - expected.blue()) <= 2
        text = page.view.palette().color(QPalette.ColorRole.Text)
        assert (painted.lightness() > 128) == (text.lightness() < 128)  # the tint suits the theme
        page.window().grab().save(str(tmp_path_factory.mktemp("looks") / f"roles-{mode.value}.png"))
    finally:
        shiboken6.delete(theme)
