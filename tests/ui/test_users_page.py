"""The users page end to end on a real database: the grid and the profile beside it, creating and
editing accounts with every validation message next to its field, pictures, (de)activation, unlock,
password reset, deletion, the guards as sentences, and what managers and viewers are (not) offered."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import update

from ecomdesk.db.models import User
from ecomdesk.services.context import Actor
from ecomdesk.services.listing import ListQuery
from ecomdesk.services.registry import Services
from ecomdesk.services.users import UserFields, UserRecord
from ecomdesk.ui.main_window import MainWindow
from ecomdesk.ui.pages.user_dialogs import TemporaryPasswordDialog, UserDialog
from ecomdesk.ui.pages.users import SELF_DEACTIVATE, SELF_DELETE, SELF_RESET, UsersPage
from ecomdesk.ui.preferences import Preferences
from ecomdesk.ui.session import AppSession
from ecomdesk.ui.tasks import TaskRunner
from tests.services.conftest import PASSWORD, MakeUser, Staff, png

WAIT_MS = 15_000
TEMPORARY = re.compile(r"[a-km-zA-HJ-NP-Z2-9]{5}(-[a-km-zA-HJ-NP-Z2-9]{5}){3}")

OpenPage = Callable[[Actor], UsersPage]


@pytest.fixture
def open_page(qtbot: QtBot, services: Services, runner: TaskRunner) -> OpenPage:
    windows: list[QMainWindow] = []

    def open_(actor: Actor) -> UsersPage:
        page = UsersPage(AppSession(services, actor, runner, database_label="test"))
        window = QMainWindow()
        window.setCentralWidget(page)
        window.resize(1200, 700)
        qtbot.addWidget(window)
        windows.append(window)  # qtbot keeps only a weak reference
        window.show()
        qtbot.waitUntil(lambda: page.grid.model.is_loaded, timeout=WAIT_MS)
        return page

    return open_


def _select(qtbot: QtBot, page: UsersPage, email: str) -> UserRecord:
    qtbot.waitUntil(lambda: page.grid.model.is_loaded and not page.grid.model.is_busy, timeout=WAIT_MS)
    for row in range(page.grid.model.rowCount()):
        record = page.grid.model.record(row)
        if record is not None and record.email == email:
            page.grid.view.setFocus()
            page.grid.view.selectRow(row)
            assert page.current is not None and page.current.email == email
            return page.current
    raise AssertionError(f"{email} is not in the grid")


def _user(services: Services, staff: Staff, email: str) -> UserRecord | None:
    rows = services.users.list_users(staff.admin, ListQuery(search=email)).rows
    return next((row for row in rows if row.email == email), None)


def _confirm(qtbot: QtBot, page: UsersPage, button_text: str) -> None:
    """Answer the page's (window-modal, non-blocking) question."""
    qtbot.waitUntil(lambda: _box(page) is not None, timeout=WAIT_MS)
    box = _box(page)
    assert box is not None
    (button,) = [b for b in box.buttons() if b.text() == button_text]
    button.click()


def _box(page: UsersPage) -> QMessageBox | None:
    boxes = [b for b in page.findChildren(QMessageBox) if b.isVisible()]
    return boxes[-1] if boxes else None


def _dialog(qtbot: QtBot, page: UsersPage) -> UserDialog:
    qtbot.waitUntil(lambda: any(d.isVisible() for d in page.findChildren(UserDialog)), timeout=WAIT_MS)
    dialog = [d for d in page.findChildren(UserDialog) if d.isVisible()][-1]
    qtbot.waitUntil(lambda: dialog.role.count() > 0 and dialog.save_button.isEnabled(), timeout=WAIT_MS)
    return dialog


def _save(qtbot: QtBot, dialog: UserDialog) -> None:
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.busy.isVisible(), timeout=WAIT_MS)


def _errors(dialog: UserDialog) -> dict[str, str]:
    return {name: field.message for name, field in dialog.fields.items() if field.message}


def _temporary_password(qtbot: QtBot, page: UsersPage) -> TemporaryPasswordDialog:
    qtbot.waitUntil(lambda: page.findChild(TemporaryPasswordDialog) is not None, timeout=WAIT_MS)
    shown = page.findChild(TemporaryPasswordDialog)
    assert shown is not None and shown.isVisible()
    return shown


# -- the grid and the profile beside it ----------------------------------------------------------


def test_the_grid_lists_accounts_with_role_and_state_filters_and_the_panel_shows_the_selected_profile(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    services.users.set_avatar(staff.admin, staff.manager.user_id, png(), "max.png")
    page = open_page(staff.admin)
    assert set(page.grid.filters) == {"role_id", "active"}
    assert page.grid.model.rowCount() == 3
    headers = [page.grid.model.headerData(c, Qt.Orientation.Horizontal) for c in page.grid.visible_columns()]
    assert headers[:4] == ["Email", "Name", "Role", "Active"]
    assert page.panel.empty.isVisible()

    _select(qtbot, page, "max@shop.example")
    panel = page.panel
    assert (panel.name.text(), panel.email.text(), panel.values["role"].text()) == (
        "Max Manager",
        "max@shop.example",
        "manager",
    )
    assert panel.state.text() == "Active"
    qtbot.waitUntil(lambda: panel.avatar.has_image, timeout=WAIT_MS)
    _select(qtbot, page, "vic@shop.example")
    assert not panel.avatar.has_image  # Vic has no picture: initials


def test_search_and_the_active_filter_narrow_the_grid(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    services.users.set_active(staff.admin, staff.viewer.user_id, False)
    page = open_page(staff.admin)
    page.grid.set_filter("active", False)
    qtbot.waitUntil(lambda: page.grid.model.rowCount() == 1, timeout=WAIT_MS)
    assert page.grid.model.record(0).email == "vic@shop.example"
    page.grid.set_filter("active", None)
    qtbot.waitUntil(lambda: page.grid.model.rowCount() == 3, timeout=WAIT_MS)
    page.grid.search.setText("manager")  # Max's last name
    qtbot.waitUntil(lambda: page.grid.model.rowCount() == 1, timeout=WAIT_MS)
    assert page.grid.model.record(0).email == "max@shop.example"


# -- creating --------------------------------------------------------------------------------------


def test_an_empty_new_user_form_says_required_next_to_each_field_and_stays_open(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    page = open_page(staff.admin)
    QTest.keySequence(page.grid.view, "Ctrl+N")
    dialog = _dialog(qtbot, page)
    assert dialog.windowTitle() == "New user"
    assert dialog.role.currentText() == "viewer"  # the role with the fewest rights
    _save(qtbot, dialog)
    assert _errors(dialog) == {"email": "Required.", "first_name": "Required.", "last_name": "Required."}
    assert dialog.isVisible()
    assert "Nothing was saved" in dialog.status.text()
    assert dialog.focusWidget() is dialog.email  # the first field with a problem


def test_bad_email_phone_and_a_taken_email_are_each_said_next_to_their_field_keeping_the_input(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    page = open_page(staff.admin)
    dialog = page.new_user()
    assert dialog is not None
    dialog = _dialog(qtbot, page)
    dialog.email.setText("not an email")
    dialog.first_name.setText("Nina")
    dialog.last_name.setText("Novak")
    dialog.phone.setText("call me")
    _save(qtbot, dialog)
    assert _errors(dialog) == {
        "email": "Enter an email address like name@example.com.",
        "phone": "Enter a phone number with 6 to 17 digits, e.g. +49 30 1234567.",
    }
    dialog.email.setText("MAX@shop.example")
    dialog.phone.setText("+49 30 1234567")
    _save(qtbot, dialog)
    assert _errors(dialog) == {"email": "Another account already uses this email address."}
    assert (dialog.email.text(), dialog.first_name.text(), dialog.phone.text()) == (
        "MAX@shop.example",
        "Nina",
        "+49 30 1234567",
    )
    assert dialog.isVisible() and _user(services, staff, "nina@shop.example") is None


def test_a_field_is_checked_as_soon_as_it_is_left(qtbot: QtBot, open_page: OpenPage, staff: Staff) -> None:
    page = open_page(staff.admin)
    page.new_user()
    dialog = _dialog(qtbot, page)
    dialog.email.setFocus()
    QTest.keyClicks(dialog.email, "nina@")
    dialog.first_name.setFocus()  # leaving the email field
    assert dialog.fields["email"].message == "Enter an email address like name@example.com."
    QTest.keyClicks(dialog.email, "shop.example")
    dialog.email.setFocus()
    dialog.first_name.setFocus()
    assert dialog.fields["email"].message == ""
    assert dialog.fields["first_name"].message == ""  # not touched yet: no "Required." while tabbing


def test_creating_a_user_shows_the_temporary_password_once_and_it_signs_in_once_forcing_a_change(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff, tmp_path: Path
) -> None:
    page = open_page(staff.admin)
    page.new_user()
    dialog = _dialog(qtbot, page)
    dialog.email.setText("nina@shop.example")
    dialog.first_name.setText("Nina")
    dialog.last_name.setText("Novak")
    dialog.role.setCurrentIndex(dialog.role.findText("manager"))
    picture = tmp_path / "nina.png"
    picture.write_bytes(png((10, 120, 10), (64, 64)))
    dialog.set_picture_file(picture)
    assert dialog.avatar.has_image
    _save(qtbot, dialog)

    shown = _temporary_password(qtbot, page)
    password = shown.password.text()
    assert TEMPORARY.fullmatch(password)
    shown.copy_button.click()
    assert QGuiApplication.clipboard().text() == password
    assert not dialog.isVisible()
    assert "Created the account of Nina Novak" in page.status.text()
    created = _user(services, staff, "nina@shop.example")
    assert created is not None and created.role == "manager" and created.avatar_file_id is not None
    signed_in = services.auth.authenticate("nina@shop.example", password)
    assert signed_in.must_change_password
    qtbot.waitUntil(lambda: page.grid.model.rowCount() == 4, timeout=WAIT_MS)


def test_a_picture_that_is_not_an_image_or_too_big_is_refused_by_name_and_nothing_is_created(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff, tmp_path: Path
) -> None:
    page = open_page(staff.admin)
    page.new_user()
    dialog = _dialog(qtbot, page)
    big = tmp_path / "huge.png"
    big.write_bytes(b"\0" * (5 * 1024 * 1024 + 1))
    dialog.set_picture_file(big)
    assert dialog.fields["file"].message == "The file is 5.1 MB; the most allowed is 5 MB."
    assert dialog.picture is None and not dialog.avatar.has_image

    fake = tmp_path / "holiday.png"
    fake.write_text("name,price\nmug,5\n")
    dialog.set_picture_file(fake)
    assert dialog.fields["file"].message == ""  # small enough: the server judges the content
    dialog.email.setText("nina@shop.example")
    dialog.first_name.setText("Nina")
    dialog.last_name.setText("Novak")
    _save(qtbot, dialog)
    assert (
        dialog.fields["file"].message
        == "This file is not a PNG, JPEG or WebP image (its content was checked, not its name)."
    )
    assert dialog.isVisible() and dialog.email.text() == "nina@shop.example"
    assert _user(services, staff, "nina@shop.example") is None


def test_roles_with_rights_one_does_not_hold_cannot_be_chosen(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff, make_user: MakeUser
) -> None:
    helpdesk = services.roles.create_role(
        staff.admin,
        "helpdesk",
        frozenset({"users.read", "users.write", "inventory.read", "analytics.read", "reports.read"}),
    )
    hal = make_user("helpdesk", email="hal@shop.example")
    page = open_page(hal)
    page.new_user()
    dialog = _dialog(qtbot, page)
    items = dialog.role.model()
    enabled = {
        dialog.role.itemText(i): items.flags(items.index(i, 0)) & Qt.ItemFlag.ItemIsEnabled
        != Qt.ItemFlag.NoItemFlags
        for i in range(dialog.role.count())
    }
    assert enabled == {"admin": False, "manager": False, "viewer": True, helpdesk.name: True}
    admin_tip = items.index(dialog.role.findText("admin"), 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "rights you don't have" in admin_tip and "roles.manage" in admin_tip


# -- editing ---------------------------------------------------------------------------------------


def test_editing_saves_the_fields_and_the_panel_and_grid_follow(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    page = open_page(staff.admin)
    _select(qtbot, page, "vic@shop.example")
    QTest.keyClick(page.grid.view, Qt.Key.Key_Return)
    dialog = _dialog(qtbot, page)
    assert dialog.windowTitle() == "Edit Vic Viewer"
    assert (dialog.email.text(), dialog.role.currentText()) == ("vic@shop.example", "viewer")
    dialog.first_name.setText("Victoria")
    dialog.address.setPlainText("Main St 1\n10115 Berlin")
    _save(qtbot, dialog)
    assert not dialog.isVisible()
    saved = _user(services, staff, "vic@shop.example")
    assert saved is not None and (saved.first_name, saved.address) == ("Victoria", "Main St 1\n10115 Berlin")
    assert page.panel.name.text() == "Victoria Viewer"
    assert "Saved Victoria Viewer" in page.status.text()


def test_an_edit_someone_else_saved_first_is_a_conflict_that_keeps_the_input_and_offers_reload(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    page = open_page(staff.admin)
    record = _select(qtbot, page, "vic@shop.example")
    page.edit_action.trigger()
    dialog = _dialog(qtbot, page)
    dialog.first_name.setText("Victoria")
    services.users.update_user(  # another administrator, meanwhile
        staff.admin, record.id, UserFields(record.email, record.first_name, "Other", record.role_id)
    )
    _save(qtbot, dialog)
    assert dialog.isVisible() and dialog.first_name.text() == "Victoria"
    assert "changed by someone else" in dialog.status.text()
    assert dialog.reload_button.isVisible()
    dialog.reload_button.click()
    qtbot.waitUntil(lambda: dialog.last_name.text() == "Other", timeout=WAIT_MS)
    assert dialog.first_name.text() == "Vic"
    _save(qtbot, dialog)
    assert not dialog.isVisible()


def test_demoting_the_last_administrator_is_refused_in_words_and_the_dialog_stays(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    page = open_page(staff.admin)
    _select(qtbot, page, "ada@shop.example")
    page.edit_action.trigger()
    dialog = _dialog(qtbot, page)
    dialog.role.setCurrentIndex(dialog.role.findText("viewer"))
    _save(qtbot, dialog)
    assert dialog.isVisible() and dialog.role.currentText() == "viewer"
    assert dialog.status.text() == (
        "Nothing was saved. Cannot change this account's role: ada@shop.example is the last active "
        "administrator. Make someone else an administrator first."
    )
    assert _user(services, staff, "ada@shop.example").role == "admin"  # type: ignore[union-attr]


def test_an_edited_picture_is_saved_with_the_account_and_can_be_removed(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff, tmp_path: Path
) -> None:
    page = open_page(staff.admin)
    _select(qtbot, page, "vic@shop.example")
    page.edit_action.trigger()
    dialog = _dialog(qtbot, page)
    picture = tmp_path / "vic.png"
    picture.write_bytes(png())
    dialog.set_picture_file(picture)
    _save(qtbot, dialog)
    assert services.users.avatar(staff.admin, staff.viewer.user_id) is not None
    qtbot.waitUntil(lambda: page.panel.avatar.has_image, timeout=WAIT_MS)

    page.edit_action.trigger()
    dialog = _dialog(qtbot, page)
    qtbot.waitUntil(lambda: dialog.remove_button.isEnabled(), timeout=WAIT_MS)
    dialog.remove_button.click()
    assert not dialog.avatar.has_image
    _save(qtbot, dialog)
    assert services.users.avatar(staff.admin, staff.viewer.user_id) is None


# -- account actions -------------------------------------------------------------------------------


def test_deactivating_asks_first_then_signs_the_user_out_and_activating_lets_them_in_again(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    services.auth.authenticate("vic@shop.example", PASSWORD, remember=True)
    page = open_page(staff.admin)
    _select(qtbot, page, "vic@shop.example")
    assert page.active_action.text() == "&Deactivate"
    page.active_action.trigger()
    _confirm(qtbot, page, "Deactivate")
    qtbot.waitUntil(lambda: "Deactivated Vic Viewer" in page.status.text(), timeout=WAIT_MS)
    assert services.users.get_user(staff.admin, staff.viewer.user_id).is_active is False
    assert services.auth.list_sessions(staff.admin, staff.viewer.user_id) == []
    qtbot.waitUntil(lambda: page.panel.state.text() == "Deactivated: cannot sign in", timeout=WAIT_MS)
    assert page.active_action.text() == "&Activate"

    page.active_action.trigger()  # activating needs no question
    qtbot.waitUntil(lambda: "Activated Vic Viewer" in page.status.text(), timeout=WAIT_MS)
    services.auth.authenticate("vic@shop.example", PASSWORD)


def test_cancelling_the_question_changes_nothing(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    page = open_page(staff.admin)
    _select(qtbot, page, "vic@shop.example")
    page.active_action.trigger()
    _confirm(qtbot, page, "Cancel")
    assert services.users.get_user(staff.admin, staff.viewer.user_id).is_active is True
    assert page.status.text() == ""


def test_reset_password_shows_a_new_temporary_password_once_and_forces_a_change(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    page = open_page(staff.admin)
    _select(qtbot, page, "max@shop.example")
    page.reset_action.trigger()
    _confirm(qtbot, page, "Reset password")
    shown = _temporary_password(qtbot, page)
    assert any(
        "The password of Max Manager was reset." in label.text() for label in shown.findChildren(QLabel)
    )
    password = shown.password.text()
    assert TEMPORARY.fullmatch(password)
    with pytest.raises(Exception, match="not right"):
        services.auth.authenticate("max@shop.example", PASSWORD)
    assert services.auth.authenticate("max@shop.example", password).must_change_password


def test_unlock_is_offered_for_a_locked_account_and_clears_the_lock(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    with services.ctx.engine.begin() as conn:
        conn.execute(
            update(User).where(User.id == staff.viewer.user_id).values(locked_at=services.ctx.clock())
        )
    page = open_page(staff.admin)
    _select(qtbot, page, "max@shop.example")
    assert not page.unlock_action.isEnabled()
    _select(qtbot, page, "vic@shop.example")
    assert "Locked after failed sign-ins" in page.panel.state.text()
    assert page.unlock_action.isEnabled()
    page.unlock_action.trigger()
    qtbot.waitUntil(lambda: "Unlocked Vic Viewer" in page.status.text(), timeout=WAIT_MS)
    assert services.users.get_user(staff.admin, staff.viewer.user_id).locked is False


def test_delete_asks_then_removes_the_account(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff, make_user: MakeUser
) -> None:
    make_user("viewer", email="zed@shop.example", first_name="Zed", last_name="Gone")
    page = open_page(staff.admin)
    _select(qtbot, page, "zed@shop.example")
    QTest.keyClick(page.grid.view, Qt.Key.Key_Delete)
    box = _box(page)
    assert box is not None and "Delete Zed Gone <zed@shop.example>?" in box.text()
    _confirm(qtbot, page, "Delete")
    qtbot.waitUntil(lambda: page.status.text() == "Deleted Zed Gone <zed@shop.example>.", timeout=WAIT_MS)
    assert _user(services, staff, "zed@shop.example") is None
    qtbot.waitUntil(lambda: page.grid.model.rowCount() == 3, timeout=WAIT_MS)


def test_a_refusal_of_the_service_is_a_sentence_in_the_status_line(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff, make_user: MakeUser
) -> None:
    zed = make_user("viewer", email="zed@shop.example", first_name="Zed", last_name="Gone")
    Preferences().confirm_delete = False
    page = open_page(staff.admin)
    _select(qtbot, page, "zed@shop.example")
    services.users.delete_user(staff.admin, zed.user_id)  # someone else was quicker
    page.delete_action.trigger()
    qtbot.waitUntil(lambda: page.status.text() == "That user no longer exists.", timeout=WAIT_MS)


def test_ones_own_account_cannot_be_deactivated_deleted_or_reset_here_and_the_tooltips_say_why(
    qtbot: QtBot, open_page: OpenPage, staff: Staff
) -> None:
    page = open_page(staff.admin)
    _select(qtbot, page, "ada@shop.example")
    for action, why in (
        (page.active_action, SELF_DEACTIVATE),
        (page.delete_action, SELF_DELETE),
        (page.reset_action, SELF_RESET),
    ):
        assert not action.isEnabled() and action.toolTip() == why
    assert page.edit_action.isEnabled()
    QTest.keyClick(page.grid.view, Qt.Key.Key_Delete)
    assert page.status.text() == SELF_DELETE and _box(page) is None


# -- who sees what ----------------------------------------------------------------------------------


def test_a_manager_reads_accounts_but_every_change_is_disabled_with_the_reason(
    qtbot: QtBot, open_page: OpenPage, services: Services, staff: Staff
) -> None:
    page = open_page(staff.manager)
    _select(qtbot, page, "vic@shop.example")
    assert page.panel.name.text() == "Vic Viewer"
    actions = [
        page.new_action,
        page.edit_action,
        page.active_action,
        page.unlock_action,
        page.reset_action,
        page.delete_action,
    ]
    for action in actions:
        assert not action.isEnabled()
        assert action.toolTip().startswith("Your role (manager) does not include “Create, edit, deactivate")
        assert "(users.write)" in action.toolTip()
    QTest.keyClick(page.grid.view, Qt.Key.Key_Return)
    assert page.findChild(UserDialog) is None
    QTest.keyClick(page.grid.view, Qt.Key.Key_Delete)
    assert "users.write" in page.status.text()
    assert services.users.list_users(staff.admin, ListQuery()).total == 3
    # The devices of others need sessions.manage, which a manager lacks.
    assert not page.panel.devices.revoke_all_button.isVisible()


def test_admins_get_users_and_roles_managers_users_only_viewers_neither(
    qtbot: QtBot, services: Services, staff: Staff, runner: TaskRunner
) -> None:
    kept: list[MainWindow] = []
    for actor, expected in (
        (staff.admin, {"users", "roles"}),
        (staff.manager, {"users"}),
        (staff.viewer, set()),
    ):
        window = MainWindow(AppSession(services, actor, runner, database_label="test"))
        qtbot.addWidget(window)
        kept.append(window)
        assert {"users", "roles"} & set(window.page_keys()) == expected
    window = kept[0]
    window.show()
    window.show_page("users")
    assert isinstance(window.current_page, UsersPage)
